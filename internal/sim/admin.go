package sim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
)

const maxAdminBody = 8 << 20

type adminError struct {
	Error string `json:"error"`
}

func (s *Sim) adminRoutes(mux *http.ServeMux) {
	const acc = "/admin/accounts/{omfragad}"
	mux.HandleFunc("GET /admin/accounts", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.Accounts())
	})
	mux.HandleFunc("GET "+acc, func(w http.ResponseWriter, r *http.Request) {
		a, ok := s.Account(r.PathValue("omfragad"))
		if !ok {
			adminFail(w, fmt.Errorf("account %s: %w", Mask(r.PathValue("omfragad")), ErrNotFound))
			return
		}
		writeJSON(w, http.StatusOK, a)
	})
	mux.HandleFunc("PUT "+acc, func(w http.ResponseWriter, r *http.Request) {
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
	mux.HandleFunc("POST "+acc+"/transactions", func(w http.ResponseWriter, r *http.Request) {
		var t Transaction
		if decode(w, r, &t) {
			_, err := s.postTransaction(r.PathValue("omfragad"), t)
			s.accountAnswer(w, r.PathValue("omfragad"), err)
		}
	})
	mux.HandleFunc("POST "+acc+"/upcoming", func(w http.ResponseWriter, r *http.Request) {
		var t Transaction
		if decode(w, r, &t) {
			s.accountAnswer(w, r.PathValue("omfragad"), s.AddUpcoming(r.PathValue("omfragad"), t))
		}
	})
	mux.HandleFunc("POST "+acc+"/upcoming/{index}/book", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Date string `json:"date"`
		}
		idx, err := strconv.Atoi(r.PathValue("index"))
		if err != nil {
			adminFail(w, fmt.Errorf("%w: index %q is not a number", ErrInvalid, r.PathValue("index")))
			return
		}
		if decodeOptional(w, r, &body) {
			s.accountAnswer(w, r.PathValue("omfragad"), s.BookUpcoming(r.PathValue("omfragad"), idx, body.Date))
		}
	})
	mux.HandleFunc("DELETE "+acc+"/upcoming/{index}", func(w http.ResponseWriter, r *http.Request) {
		idx, err := strconv.Atoi(r.PathValue("index"))
		if err != nil {
			adminFail(w, fmt.Errorf("%w: index %q is not a number", ErrInvalid, r.PathValue("index")))
			return
		}
		s.accountAnswer(w, r.PathValue("omfragad"), s.WithdrawUpcoming(r.PathValue("omfragad"), idx))
	})
	mux.HandleFunc("PUT "+acc+"/balance", func(w http.ResponseWriter, r *http.Request) {
		var b struct {
			SaldoSkatteverket *int64 `json:"saldoSkatteverket"`
			SaldoKronofogden  *int64 `json:"saldoKronofogden"`
		}
		if !decode(w, r, &b) {
			return
		}
		if b.SaldoSkatteverket == nil || b.SaldoKronofogden == nil {
			adminFail(w, fmt.Errorf("%w: saldoSkatteverket and saldoKronofogden are required", ErrInvalid))
			return
		}
		s.accountAnswer(w, r.PathValue("omfragad"), s.SetBalance(r.PathValue("omfragad"), *b.SaldoSkatteverket, *b.SaldoKronofogden))
	})
	mux.HandleFunc("PUT "+acc+"/interest", func(w http.ResponseWriter, r *http.Request) {
		var b struct {
			RantaSkatteverket *int64 `json:"rantaSkatteverket"`
			RantaKronofogden  *int64 `json:"rantaKronofogden"`
		}
		if !decode(w, r, &b) {
			return
		}
		if b.RantaSkatteverket == nil || b.RantaKronofogden == nil {
			adminFail(w, fmt.Errorf("%w: rantaSkatteverket and rantaKronofogden are required", ErrInvalid))
			return
		}
		s.accountAnswer(w, r.PathValue("omfragad"), s.SetInterest(r.PathValue("omfragad"), *b.RantaSkatteverket, *b.RantaKronofogden))
	})
	mux.HandleFunc("PUT "+acc+"/payout-account", func(w http.ResponseWriter, r *http.Request) {
		var b struct {
			Utbetalningskonto *string `json:"utbetalningskonto"`
		}
		if decode(w, r, &b) {
			s.accountAnswer(w, r.PathValue("omfragad"), s.SetPayoutAccount(r.PathValue("omfragad"), b.Utbetalningskonto))
		}
	})
	mux.HandleFunc("POST "+acc+"/blocks", func(w http.ResponseWriter, r *http.Request) {
		var b Block
		if decode(w, r, &b) {
			s.accountAnswer(w, r.PathValue("omfragad"), s.AddBlock(r.PathValue("omfragad"), b))
		}
	})
	mux.HandleFunc("DELETE "+acc+"/blocks/{id}", func(w http.ResponseWriter, r *http.Request) {
		id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
		if err != nil {
			adminFail(w, fmt.Errorf("%w: block id %q is not a number", ErrInvalid, r.PathValue("id")))
			return
		}
		s.accountAnswer(w, r.PathValue("omfragad"), s.RemoveBlock(r.PathValue("omfragad"), id))
	})
	mux.HandleFunc("POST "+acc+"/close", func(w http.ResponseWriter, r *http.Request) {
		s.accountAnswer(w, r.PathValue("omfragad"), s.CloseAccount(r.PathValue("omfragad")))
	})
	mux.HandleFunc("POST "+acc+"/grant/revoke", func(w http.ResponseWriter, r *http.Request) {
		omf := r.PathValue("omfragad")
		s.accountAnswer(w, omf, s.SetGrant(omf, false))
	})
	mux.HandleFunc("POST "+acc+"/grant/restore", func(w http.ResponseWriter, r *http.Request) {
		omf := r.PathValue("omfragad")
		s.accountAnswer(w, omf, s.SetGrant(omf, true))
	})
	mux.HandleFunc("GET /admin/faults", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.Faults())
	})
	mux.HandleFunc("POST /admin/faults", func(w http.ResponseWriter, r *http.Request) {
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
	mux.HandleFunc("DELETE /admin/faults", func(w http.ResponseWriter, r *http.Request) {
		s.ClearFaults()
		writeJSON(w, http.StatusOK, s.Faults())
	})
	mux.HandleFunc("GET /admin/calls", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, callsAnswer{Calls: s.Calls(), CorrelationIDs: s.CorrelationIDs()})
	})
	mux.HandleFunc("DELETE /admin/calls", func(w http.ResponseWriter, r *http.Request) {
		s.ResetCalls()
		writeJSON(w, http.StatusOK, callsAnswer{Calls: s.Calls(), CorrelationIDs: []string{}})
	})
	mux.HandleFunc("GET /admin/changes", func(w http.ResponseWriter, r *http.Request) {
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
	})
	mux.HandleFunc("POST /admin/scenario", func(w http.ResponseWriter, r *http.Request) {
		if err := s.LoadScenario(http.MaxBytesReader(w, r.Body, maxAdminBody)); err != nil {
			adminFail(w, err)
			return
		}
		writeJSON(w, http.StatusOK, s.Accounts())
	})
	mux.HandleFunc("POST /admin/tokens/revoke", func(w http.ResponseWriter, r *http.Request) {
		s.RevokeTokens()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("/admin/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, adminError{Error: "no such admin endpoint: " + r.Method + " " + r.URL.Path})
	})
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
