package sim

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

func TestOCR(t *testing.T) {
	// Skatteverket's example: identity 194804032094, OCR 1948040320946.
	if got := OCR("194804032094"); got != "1948040320946" {
		t.Errorf("OCR got %s, want 1948040320946", got)
	}
}

func TestValidOmfragad(t *testing.T) {
	for s, want := range map[string]bool{
		"165566778899": true, "165781006662": true, "198112189876": true,
		"165566778898": false, "5566778899": false, "16556677889a": false, "": false,
	} {
		if got := ValidOmfragad(s); got != want {
			t.Errorf("ValidOmfragad(%s) = %v, want %v", Mask(s), got, want)
		}
	}
	if got := Mask("198112189876"); got != "19811218****" {
		t.Errorf("Mask = %s", got)
	}
}

func TestRealisticAccount(t *testing.T) {
	for _, tc := range []struct {
		omf string
		n   int
	}{{"165781006662", 60}, {"165781006662", 200}, {"198112189876", 40}} {
		t.Run(fmt.Sprintf("%s-%d", Mask(tc.omf), tc.n), func(t *testing.T) {
			a := RealisticAccount(tc.omf, 7, tc.n, testNow)
			if d := cmp.Diff(a, RealisticAccount(tc.omf, 7, tc.n, testNow)); d != "" {
				t.Fatalf("not deterministic:\n%s", d)
			}
			if len(a.Tidigare) != tc.n {
				t.Errorf("%d rows, want %d", len(a.Tidigare), tc.n)
			}
			var skv, kfm int64
			var kfmOnly, twins, retro bool
			seen := map[string]int{}
			ids := map[int64]bool{}
			for i, r := range a.Tidigare {
				if i > 0 && r.Transaktionsdatum < a.Tidigare[i-1].Transaktionsdatum {
					t.Errorf("row %d out of order", i)
				}
				if r.Transaktionsdatum > "2026-03-05" || !validDate(r.Ranteberakningsdatum) {
					t.Errorf("row %d dates %s/%s", i, r.Transaktionsdatum, r.Ranteberakningsdatum)
				}
				if utf8.RuneCountInString(r.Transaktionstext) > 50 {
					t.Errorf("text too long: %s", r.Transaktionstext)
				}
				if ids[r.Transaktionsidentitet] || r.Transaktionsidentitet == 0 {
					t.Errorf("identity %d missing or repeated", r.Transaktionsidentitet)
				}
				ids[r.Transaktionsidentitet] = true
				if r.BeloppSkatteverket != nil {
					skv += *r.BeloppSkatteverket
				}
				if r.BeloppKronofogden != nil {
					kfm += *r.BeloppKronofogden
					kfmOnly = kfmOnly || r.BeloppSkatteverket == nil
				}
				var amt int64
				if r.BeloppSkatteverket != nil {
					amt = *r.BeloppSkatteverket
				}
				key := fmt.Sprint(r.Transaktionsdatum, r.Transaktionstext, amt)
				seen[key]++
				if seen[key] == 2 && r.Ranteberakningsdatum == r.Transaktionsdatum {
					twins = true
				}
				if seen[key] >= 2 && r.Ranteberakningsdatum != r.Transaktionsdatum {
					retro = true
				}
			}
			if skv != a.SaldoSkatteverket || kfm != a.SaldoKronofogden {
				t.Errorf("balances %d/%d, rows sum to %d/%d", a.SaldoSkatteverket, a.SaldoKronofogden, skv, kfm)
			}
			if !kfmOnly || !twins || !retro {
				t.Errorf("kfm-only %v twins %v retro %v", kfmOnly, twins, retro)
			}
			if len(a.Kommande) == 0 {
				t.Fatal("no upcoming rows")
			}
			for _, k := range a.Kommande {
				if !strings.HasSuffix(k.Forfallodatum, "-12") || k.Transaktionsidentitet != 0 {
					t.Errorf("upcoming %+v", k)
				}
			}
			s := New(Config{Now: (&fakeClock{t: testNow}).Now})
			if err := s.PutAccount(a); err != nil {
				t.Errorf("PutAccount: %v", err)
			}
		})
	}
}

func TestRealisticTexts(t *testing.T) {
	a := RealisticAccount("165781006662", 1, 200, testNow)
	all := map[string]bool{}
	for _, r := range a.Tidigare {
		f := strings.Fields(r.Transaktionstext)
		all[f[0]] = true
		all[r.Transaktionstext] = true
	}
	for _, want := range []string{"Inbetalning", "Debiterad preliminärskatt", "Arbetsgivaravgift", "Avdragen", "Moms", "Kostnadsränta", "Förseningsavgift", "Förs.avgift moms", "Slutlig skatt"} {
		if !all[want] {
			t.Errorf("no row %q", want)
		}
	}
}

func TestSeedDemo(t *testing.T) {
	e := newEnv(t, Config{})
	e.sim.SeedDemo()
	for _, omf := range []string{DemoAB, DemoABInfo, DemoABOld, DemoEF} {
		for _, op := range []string{OpSaldo, OpTransaktioner, OpUtbetalningskonto, OpUtbetalningssparrar} {
			if st, b := e.get(op, omf, ""); st != http.StatusOK {
				t.Errorf("%s %s: %d %s", op, Mask(omf), st, b)
			}
		}
	}
	ab, _ := e.sim.Account(DemoAB)
	if ab.Utbetalningskonto == nil || len(ab.Sparrar) == 0 || len(ab.Kommande) == 0 || ab.SaldoKronofogden == 0 {
		t.Errorf("demo AB incomplete")
	}
	_, b := e.get(OpUtbetalningskonto, DemoABInfo, "")
	if !strings.Contains(string(b), "informationstext") || strings.Contains(string(b), `"utbetalningskonto"`) {
		t.Errorf("info account: %s", b)
	}
}

// TestConcurrentUse runs API calls and mutations together under -race.
func TestConcurrentUse(t *testing.T) {
	e := newEnv(t, Config{})
	e.sim.SeedDemo()
	e.token = e.fetchToken()
	reqs := make([]*http.Request, 40)
	for i := range reqs {
		reqs[i] = e.apiRequest(OpTransaktioner, DemoAB, "", nil)
	}
	var wg sync.WaitGroup
	for _, r := range reqs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := e.srv.Client().Do(r)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
		}()
	}
	for i := 0; i < 20; i++ {
		if err := e.sim.PostTransaction(DemoAB, Transaction{Transaktionstext: "Intäktsränta", BeloppSkatteverket: i64(1)}); err != nil {
			t.Error(err)
		}
		if err := e.sim.AddUpcoming(DemoAB, Transaction{Forfallodatum: "2026-04-12", Transaktionstext: "Moms"}); err != nil {
			t.Error(err)
		}
		if err := e.sim.BookUpcoming(DemoAB, 0, ""); err != nil {
			t.Error(err)
		}
	}
	wg.Wait()
	if got := e.sim.CallCount(OpTransaktioner); got != 40 {
		t.Errorf("CallCount %d, want 40", got)
	}
}
