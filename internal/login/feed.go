package login

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/skattekonto-events/skattekonto-events/internal/contract"
	"github.com/skattekonto-events/skattekonto-events/internal/idnr"
)

// shownEvent is an event as the page shows it: no payout account, no
// whole personnummer.
type shownEvent struct {
	Time    string
	Type    string
	Account string
	Auth    string
	Summary string
}

// cloudEvent is the part of an event the page reads.
type cloudEvent struct {
	Type      string          `json:"type"`
	Subject   string          `json:"subject"`
	Time      string          `json:"time"`
	RequestID string          `json:"requestid"`
	Auth      string          `json:"auth"`
	Data      json.RawMessage `json:"data"`
}

// shown keeps an event for the page if it answers one of the login's own
// requests: events of fetches made with other credentials are not shown,
// so a login never shows what its user may not see.
func (l *Login) shown(s *session, raw []byte) {
	var ev cloudEvent
	if json.Unmarshal(raw, &ev) != nil {
		return
	}
	var data struct {
		RequestIDs []string `json:"requestIds"`
	}
	_ = json.Unmarshal(ev.Data, &data)
	prefix := s.requestPrefix()
	ours := strings.HasPrefix(ev.RequestID, prefix) ||
		slices.ContainsFunc(data.RequestIDs, func(id string) bool { return strings.HasPrefix(id, prefix) })
	if !ours {
		return
	}
	se := shownEvent{
		Time:    ev.Time,
		Type:    strings.TrimPrefix(ev.Type, contract.TypePrefix),
		Account: maskAccount(ev.Subject),
		Auth:    ev.Auth,
		Summary: summary(se0(ev.Type), ev.Data),
	}
	if t, err := time.Parse(time.RFC3339, ev.Time); err == nil {
		se.Time = t.Local().Format("2006-01-02 15:04:05")
	}
	s.mu.Lock()
	s.events = append(s.events, se)
	if over := len(s.events) - l.cfg.MaxEvents; over > 0 {
		s.events = slices.Delete(s.events, 0, over)
	}
	s.mu.Unlock()
}

func se0(t string) string { return strings.TrimPrefix(t, contract.TypePrefix) }

func maskAccount(s string) string {
	n, err := idnr.Parse(s)
	if err != nil {
		return "(" + fmt.Sprint(len(s)) + " characters)"
	}
	return n.Masked()
}

// summary is one line about an event's data, from fields that carry no
// secret: amounts, dates, texts, reasons.
func summary(typ string, data json.RawMessage) string {
	var d map[string]any
	if json.Unmarshal(data, &d) != nil {
		return ""
	}
	str := func(k string) string {
		switch v := d[k].(type) {
		case string:
			return v
		case float64:
			return fmt.Sprintf("%.0f", v)
		case bool:
			return fmt.Sprint(v)
		}
		return ""
	}
	kr := func(m any, k string) string {
		if mm, ok := m.(map[string]any); ok {
			if v, ok := mm[k].(float64); ok {
				return fmt.Sprintf("%.0f kr", v)
			}
		}
		return "–"
	}
	var parts []string
	add := func(label, v string) {
		if v != "" {
			parts = append(parts, label+v)
		}
	}
	switch typ {
	case "NewTransaction", "UpcomingDue", "UpcomingWithdrawn":
		add("", str("transaktionsdatum"))
		add("", str("transaktionstext"))
		if v := str("beloppSkatteverket"); v != "" {
			add("", v+" kr")
		}
		if v := str("beloppKronofogden"); v != "" {
			add("Kronofogden ", v+" kr")
		}
		add("förfaller ", str("forfallodatum"))
	case "BalanceChanged":
		parts = append(parts, "saldo "+kr(d["current"], "saldoSkatteverket"), "Kronofogden "+kr(d["current"], "saldoKronofogden"))
	case "InterestChanged":
		parts = append(parts, "ränta "+kr(d["current"], "rantaSkatteverket"))
	case "FetchCompleted":
		add("API calls ", str("apiCalls"))
		add("changes ", str("changes"))
	case "FetchFailed":
		add("reason ", str("reason"))
		add("felkod ", str("felkod"))
		add("", str("felmeddelande"))
	case "AccessProblem":
		add("", str("kind"))
		add("", str("detail"))
	case "ShortfallForecast":
		add("", str("level"))
		add("att betala ", str("amountToPay"))
	case "DueReminder":
		add("", str("forfallodatum"))
		add("days left ", str("daysLeft"))
	}
	if str("baseline") == "true" {
		parts = append(parts, "(baseline)")
	}
	return strings.Join(parts, " · ")
}
