package sim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
)

const maxAdminBody = 8 << 20

type adminError struct {
	Error string `json:"error"`
}

// adminMux registers admin handlers. POST and PUT require a JSON content
// type: a browser sends a cross-site form or text/plain POST without
// asking, but not application/json.
type adminMux struct{ mux *http.ServeMux }

func (m adminMux) handle(pattern string, h http.HandlerFunc) {
	m.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		if (r.Method == http.MethodPost || r.Method == http.MethodPut) && !jsonContent(r) {
			writeJSON(w, http.StatusUnsupportedMediaType, adminError{Error: "the admin API takes Content-Type: application/json"})
			return
		}
		h(w, r)
	})
}

// jsonContent reports whether r declares a JSON body.
func jsonContent(r *http.Request) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && mt == "application/json"
}

// accountPath is the admin path of one account.
const accountPath = "/admin/accounts/{omfragad}"

func (s *Sim) adminRoutes(mux *http.ServeMux) {
	m := adminMux{mux}
	s.adminAccountRoutes(m)
	s.adminRowRoutes(m)
	s.adminStateRoutes(m)
	s.adminServiceRoutes(m)
	m.handle("/admin/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, adminError{Error: "no such admin endpoint: " + r.Method + " " + r.URL.Path})
	})
}

// adminAccountRoutes: whole accounts, and their access switches.
func (s *Sim) adminAccountRoutes(m adminMux) {
	m.handle("GET /admin/accounts", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.Accounts())
	})
	m.handle("GET "+accountPath, func(w http.ResponseWriter, r *http.Request) {
		a, ok := s.Account(r.PathValue("omfragad"))
		if !ok {
			adminFail(w, fmt.Errorf("account %s: %w", Mask(r.PathValue("omfragad")), ErrNotFound))
			return
		}
		writeJSON(w, http.StatusOK, a)
	})
	m.handle("PUT "+accountPath, func(w http.ResponseWriter, r *http.Request) {
		var a Account
		if !decode(w, r, &a) {
			return
		}
		omf := r.PathValue("omfragad")
		if a.Omfragad == "" {
			a.Omfragad = omf
		}
		if a.Omfragad != omf {
			adminFail(w, fmt.Errorf("%w: omfragad in body differs from the path", ErrInvalid))
			return
		}
		s.accountAnswer(w, omf, s.PutAccount(a))
	})
	for path, f := range map[string]func(string) error{
		"/close":         s.CloseAccount,
		"/grant/revoke":  func(omf string) error { return s.SetGrant(omf, false) },
		"/grant/restore": func(omf string) error { return s.SetGrant(omf, true) },
	} {
		m.handle("POST "+accountPath+path, func(w http.ResponseWriter, r *http.Request) {
			omf := r.PathValue("omfragad")
			s.accountAnswer(w, omf, f(omf))
		})
	}
}

// adminRowRoutes: booked and upcoming rows.
func (s *Sim) adminRowRoutes(m adminMux) {
	m.handle("POST "+accountPath+"/transactions", func(w http.ResponseWriter, r *http.Request) {
		var t Transaction
		if decode(w, r, &t) {
			_, err := s.postTransaction(r.PathValue("omfragad"), t)
			s.accountAnswer(w, r.PathValue("omfragad"), err)
		}
	})
	m.handle("POST "+accountPath+"/upcoming", func(w http.ResponseWriter, r *http.Request) {
		var t Transaction
		if decode(w, r, &t) {
			s.accountAnswer(w, r.PathValue("omfragad"), s.AddUpcoming(r.PathValue("omfragad"), t))
		}
	})
	m.handle("PUT "+accountPath+"/upcoming/{index}", func(w http.ResponseWriter, r *http.Request) {
		var t Transaction
		if idx, ok := pathIndex(w, r); ok && decode(w, r, &t) {
			s.accountAnswer(w, r.PathValue("omfragad"), s.ChangeUpcoming(r.PathValue("omfragad"), idx, t))
		}
	})
	m.handle("POST "+accountPath+"/upcoming/{index}/book", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Date string `json:"date"`
		}
		if idx, ok := pathIndex(w, r); ok && decodeOptional(w, r, &body) {
			s.accountAnswer(w, r.PathValue("omfragad"), s.BookUpcoming(r.PathValue("omfragad"), idx, body.Date))
		}
	})
	m.handle("DELETE "+accountPath+"/upcoming/{index}", func(w http.ResponseWriter, r *http.Request) {
		if idx, ok := pathIndex(w, r); ok {
			s.accountAnswer(w, r.PathValue("omfragad"), s.WithdrawUpcoming(r.PathValue("omfragad"), idx))
		}
	})
}

// pathIndex reads the {index} path value, answering 400 when it is not a
// number.
func pathIndex(w http.ResponseWriter, r *http.Request) (int, bool) {
	idx, err := strconv.Atoi(r.PathValue("index"))
	if err != nil {
		adminFail(w, fmt.Errorf("%w: index %q is not a number", ErrInvalid, r.PathValue("index")))
		return 0, false
	}
	return idx, true
}

// amountPair is the body of the balance and interest endpoints: both
// amounts are required.
type amountPair struct {
	names [2]string
	v     [2]*int64
}

func (p *amountPair) UnmarshalJSON(b []byte) error {
	var m map[string]*int64
	if err := decodeStrict(b, &m); err != nil {
		return err
	}
	for k := range m {
		if k != p.names[0] && k != p.names[1] {
			return fmt.Errorf("%w: unknown field %q", ErrInvalid, k)
		}
	}
	p.v = [2]*int64{m[p.names[0]], m[p.names[1]]}
	if p.v[0] == nil || p.v[1] == nil {
		return fmt.Errorf("%w: %s and %s are required", ErrInvalid, p.names[0], p.names[1])
	}
	return nil
}

// adminStateRoutes: balances, interest, payout account and blocks.
func (s *Sim) adminStateRoutes(m adminMux) {
	for path, set := range map[string]struct {
		names [2]string
		f     func(string, int64, int64) error
	}{
		"/balance":  {[2]string{"saldoSkatteverket", "saldoKronofogden"}, s.SetBalance},
		"/interest": {[2]string{"rantaSkatteverket", "rantaKronofogden"}, s.SetInterest},
	} {
		m.handle("PUT "+accountPath+path, func(w http.ResponseWriter, r *http.Request) {
			p := amountPair{names: set.names}
			if decode(w, r, &p) {
				s.accountAnswer(w, r.PathValue("omfragad"), set.f(r.PathValue("omfragad"), *p.v[0], *p.v[1]))
			}
		})
	}
	m.handle("PUT "+accountPath+"/payout-account", func(w http.ResponseWriter, r *http.Request) {
		var b struct {
			Utbetalningskonto *string `json:"utbetalningskonto"`
		}
		if decode(w, r, &b) {
			s.accountAnswer(w, r.PathValue("omfragad"), s.SetPayoutAccount(r.PathValue("omfragad"), b.Utbetalningskonto))
		}
	})
	m.handle("POST "+accountPath+"/blocks", func(w http.ResponseWriter, r *http.Request) {
		var b Block
		if decode(w, r, &b) {
			s.accountAnswer(w, r.PathValue("omfragad"), s.AddBlock(r.PathValue("omfragad"), b))
		}
	})
	m.handle("DELETE "+accountPath+"/blocks/{id}", func(w http.ResponseWriter, r *http.Request) {
		id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
		if err != nil {
			adminFail(w, fmt.Errorf("%w: block id %q is not a number", ErrInvalid, r.PathValue("id")))
			return
		}
		s.accountAnswer(w, r.PathValue("omfragad"), s.RemoveBlock(r.PathValue("omfragad"), id))
	})
}

// adminServiceRoutes: faults, calls, the change log, scenarios, tokens
// and settings.
func (s *Sim) adminServiceRoutes(m adminMux) {
	m.handle("GET /admin/faults", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.Faults())
	})
	m.handle("POST /admin/faults", func(w http.ResponseWriter, r *http.Request) {
		var f Fault
		if !decode(w, r, &f) {
			return
		}
		if err := f.Validate(); err != nil {
			adminFail(w, err)
			return
		}
		s.InjectFault(f)
		writeJSON(w, http.StatusOK, s.Faults())
	})
	m.handle("DELETE /admin/faults", func(w http.ResponseWriter, r *http.Request) {
		s.ClearFaults()
		writeJSON(w, http.StatusOK, s.Faults())
	})
	m.handle("GET /admin/calls", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, callsAnswer{Calls: s.Calls(), CorrelationIDs: s.CorrelationIDs()})
	})
	m.handle("DELETE /admin/calls", func(w http.ResponseWriter, r *http.Request) {
		s.ResetCalls()
		writeJSON(w, http.StatusOK, callsAnswer{Calls: s.Calls(), CorrelationIDs: []string{}})
	})
	m.handle("GET /admin/changes", s.serveChanges)
	m.handle("POST /admin/scenario", func(w http.ResponseWriter, r *http.Request) {
		if err := s.LoadScenario(http.MaxBytesReader(w, r.Body, maxAdminBody)); err != nil {
			adminFail(w, err)
			return
		}
		writeJSON(w, http.StatusOK, s.Accounts())
	})
	m.handle("POST /admin/tokens/revoke", func(w http.ResponseWriter, r *http.Request) {
		s.RevokeTokens()
		w.WriteHeader(http.StatusNoContent)
	})
	m.handle("GET /admin/settings", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.Settings())
	})
	m.handle("PUT /admin/settings", func(w http.ResponseWriter, r *http.Request) {
		var p SettingsPatch
		if !decode(w, r, &p) {
			return
		}
		if err := s.UpdateSettings(p); err != nil {
			adminFail(w, err)
			return
		}
		writeJSON(w, http.StatusOK, s.Settings())
	})
}

// serveChanges answers the change log, entries after ?since=SEQ.
func (s *Sim) serveChanges(w http.ResponseWriter, r *http.Request) {
	var since int64
	if v := r.URL.Query().Get("since"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			adminFail(w, fmt.Errorf("%w: since %q is not a number", ErrInvalid, v))
			return
		}
		since = n
	}
	out := []Change{}
	for _, c := range s.Changes() {
		if c.Seq > since {
			out = append(out, c)
		}
	}
	writeJSON(w, http.StatusOK, out)
}

type callsAnswer struct {
	Calls          map[string]int `json:"calls"`
	CorrelationIDs []string       `json:"correlationIds"`
}

// accountAnswer answers a mutation with the account, or with its error.
func (s *Sim) accountAnswer(w http.ResponseWriter, omf string, err error) {
	if err != nil {
		adminFail(w, err)
		return
	}
	a, _ := s.Account(omf)
	writeJSON(w, http.StatusOK, a)
}

func adminFail(w http.ResponseWriter, err error) {
	st := http.StatusBadRequest
	if errors.Is(err, ErrNotFound) {
		st = http.StatusNotFound
	}
	writeJSON(w, st, adminError{Error: err.Error()})
}

// decode reads a JSON body strictly (unknown fields are errors).
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxAdminBody))
	if err != nil {
		adminFail(w, fmt.Errorf("%w: reading body: %v", ErrInvalid, err))
		return false
	}
	if err := decodeStrict(body, v); err != nil {
		adminFail(w, err)
		return false
	}
	return true
}

// decodeOptional is decode that accepts an empty body.
func decodeOptional(w http.ResponseWriter, r *http.Request, v any) bool {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxAdminBody))
	if err != nil {
		adminFail(w, fmt.Errorf("%w: reading body: %v", ErrInvalid, err))
		return false
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return true
	}
	if err := decodeStrict(body, v); err != nil {
		adminFail(w, err)
		return false
	}
	return true
}

func decodeStrict(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: bad JSON: %v", ErrInvalid, err)
	}
	if dec.More() {
		return fmt.Errorf("%w: bad JSON: trailing data after the value", ErrInvalid)
	}
	return nil
}
