package jobs

import (
	"fmt"
	"testing"
	"time"

	"github.com/skattekonto-events/skattekonto-events/internal/sim"
)

// apiCallsPerRefresh refreshes one account b.N times (change mutates it
// before each refresh when set) and reports the API calls per refresh.
func apiCallsPerRefresh(b *testing.B, change func(e *env, i int)) {
	e := newEnv(b)
	putAccount(b, e.sim, acctA)
	e.worker(Config{}, nil)
	e.request(acctA, `{"requestId":"baseline"}`)
	e.wait("baseline")
	e.sim.ResetCalls()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if change != nil {
			change(e, i)
		}
		id := fmt.Sprintf("r%d", i)
		e.request(acctA, fmt.Sprintf(`{"requestId":%q}`, id))
		e.wait(id)
	}
	b.StopTimer()
	total := 0
	for op, n := range e.sim.Calls() {
		if op != sim.OpToken {
			total += n
		}
	}
	b.ReportMetric(float64(total)/float64(b.N), "apicalls/refresh")
}

func BenchmarkAPICallsPerRefreshUnchanged(b *testing.B) {
	apiCallsPerRefresh(b, nil)
}

func BenchmarkAPICallsPerRefreshChanged(b *testing.B) {
	apiCallsPerRefresh(b, func(e *env, i int) {
		if err := e.sim.PostTransaction(acctA, sim.Transaction{Transaktionsdatum: time.Now().Format(time.DateOnly),
			Transaktionstext: "Kostnadsränta", BeloppSkatteverket: amount(int64(-1 - i))}); err != nil {
			b.Fatal(err)
		}
	})
}

// BenchmarkParseRequest parses the request a requester sends most: a
// request id and two operations.
func BenchmarkParseRequest(b *testing.B) {
	body := []byte(`{"requestId":"erp-7f3a-000123","operations":["saldo","transaktioner"]}`)
	today := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseRequest(acctA, body, today); err != nil {
			b.Fatal(err)
		}
	}
}
