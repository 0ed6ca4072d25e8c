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

// shownEvent is an event kept for the page: what it shows of it is
// chosen when shown (eventView), in the page's language.
type shownEvent struct {
	at      time.Time
	raw     string // the time as sent, when it does not parse
	typ     string
	account string // masked
	auth    string
	data    json.RawMessage
}

func (e *shownEvent) view(lang string) eventView {
	v := eventView{Time: e.raw, Type: e.typ, Account: e.account, Auth: e.auth, Summary: summary(pageTexts[lang], e.typ, e.data)}
	if !e.at.IsZero() {
		v.Time = stockholm(e.at)
	}
	return v
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

// maxShownData bounds the data kept of one event for the page.
const maxShownData = 8 << 10

// shown keeps an event for the page if it answers one of the login's own
// requests: events of fetches made with other credentials are not shown,
// so a login never shows what its user may not see. A refusal of the
// login's access to an account is noted on the login (and logged by its
// owner), never reported as the organisation's.
func (m *Manager) shown(l *login, raw []byte) {
	var ev cloudEvent
	if json.Unmarshal(raw, &ev) != nil {
		return
	}
	var data struct {
		RequestIDs []string `json:"requestIds"`
		Felkod     int      `json:"felkod"`
		HTTPStatus int      `json:"httpStatus"`
	}
	_ = json.Unmarshal(ev.Data, &data)
	prefix := requestPrefix(l.ref)
	ours := strings.HasPrefix(ev.RequestID, prefix) ||
		slices.ContainsFunc(data.RequestIDs, func(id string) bool { return strings.HasPrefix(id, prefix) })
	if !ours {
		return
	}
	se := shownEvent{typ: strings.TrimPrefix(ev.Type, contract.TypePrefix), account: maskAccount(ev.Subject), auth: ev.Auth}
	if len(ev.Data) <= maxShownData {
		se.data = ev.Data
	}
	if t, err := time.Parse(time.RFC3339Nano, ev.Time); err == nil {
		se.at = t
	} else {
		se.raw = truncate(ev.Time, 40)
	}
	denied := se.typ == "FetchFailed" && (data.Felkod == 6 || data.HTTPStatus == 401 || data.HTTPStatus == 403)
	l.mu.Lock()
	l.events = append(l.events, se)
	if over := len(l.events) - m.cfg.MaxEvents; over > 0 {
		l.events = slices.Delete(l.events, 0, over)
	}
	first := denied && !slices.Contains(l.denied, se.account)
	if first {
		l.denied = append(l.denied, se.account)
	}
	owner := l.own != nil
	l.mu.Unlock()
	if first && owner {
		m.cfg.Logger.Warn().Str("login", l.ref).Str("account", se.account).Int("felkod", data.Felkod).Int("httpStatus", data.HTTPStatus).
			Msg("the user's login gives no access to an account: it is not fetched with it (the person's access, not the organisation's)")
	}
}

func maskAccount(s string) string {
	n, err := idnr.Parse(s)
	if err != nil {
		return "(" + fmt.Sprint(len(s)) + " characters)"
	}
	return n.Masked()
}

// summary is one line about an event's data, from fields that carry no
// secret: amounts, dates, texts, reasons.
func summary(t *texts, typ string, data json.RawMessage) string {
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
		add(t.Due, str("forfallodatum"))
	case "BalanceChanged":
		parts = append(parts, t.Balance+kr(d["current"], "saldoSkatteverket"), "Kronofogden "+kr(d["current"], "saldoKronofogden"))
	case "InterestChanged":
		parts = append(parts, t.Interest+kr(d["current"], "rantaSkatteverket"))
	case "FetchCompleted":
		add(t.Calls, str("apiCalls"))
		add(t.Changes, str("changes"))
	case "FetchFailed":
		add(t.Reason, str("reason"))
		add("felkod ", str("felkod"))
		add("", str("felmeddelande"))
	case "AccessProblem":
		add("", str("kind"))
		add("", str("detail"))
	case "ShortfallForecast":
		add("", str("level"))
		add(t.ToPay, str("amountToPay"))
	case "DueReminder":
		add("", str("forfallodatum"))
		add(t.DaysLeft, str("daysLeft"))
	}
	if str("baseline") == "true" {
		parts = append(parts, "(baseline)")
	}
	return strings.Join(parts, " · ")
}
