package watch

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/skattekonto-events/skattekonto-events/internal/contract"
	"github.com/skattekonto-events/skattekonto-events/internal/natstest"
)

func TestParseCadence(t *testing.T) {
	tests := []struct {
		in      string
		want    []Schedule
		wantErr string
	}{
		{in: "", want: DefaultCadence},
		{in: "default", want: DefaultCadence},
		{in: "15m", want: []Schedule{{"every", "0 */15 0-2,5-23 * * *"}}},
		{in: "@every 1h", want: []Schedule{{"every", "0 0 0-2,5-23 * * *"}}},
		{in: "6h", want: []Schedule{{"every", "0 0 0,6,12,18 * * *"}}},
		{in: "8h", want: []Schedule{{"every", "0 0 6,14,22 * * *"}}},
		{in: "24h", want: []Schedule{{"every", "0 0 6 * * *"}}},
		{in: "1s", want: []Schedule{{"every", "@every 1s"}}},
		{in: "7h", want: []Schedule{{"every", "@every 7h0m0s"}}},
		{in: "0 0 7 * * 1-5", want: []Schedule{{"cron1", "0 0 7 * * 1-5"}}},
		{in: "0 0 7 * * *; 0 0 13 10-12 * *", want: []Schedule{{"cron1", "0 0 7 * * *"}, {"cron2", "0 0 13 10-12 * *"}}},
		{in: "500ms", wantErr: "at least 1s"},
		{in: "0 7 * * *", wantErr: "6 fields"},
		{in: "0 30 3 * * *", wantErr: "service window"},
		{in: "0 0 */2 * * *", wantErr: "service window"},
		{in: "0 0 25 * * *", wantErr: "outside"},
		{in: "0 0 x * * *", wantErr: "bad value"},
		{in: "0 0 7 * * 7", wantErr: "outside"}, // Sunday is 0: the server refuses 7
		{in: "0 0 7 * * 0,6", want: []Schedule{{"cron1", "0 0 7 * * 0,6"}}},
		{in: ";", wantErr: "empty"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseCadence(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %v, %v; want error with %q", got, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Fatalf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestRegisterListUnregisterOverNATS(t *testing.T) {
	ctx := context.Background()
	srv := natstest.RunTest(t)
	nc, js := natstest.Connect(t, srv)
	if _, err := js.CreateStream(ctx, contract.FetchStreamConfig(1)); err != nil {
		t.Fatal(err)
	}
	m, err := NewManager(ctx, js)
	if err != nil {
		t.Fatal(err)
	}
	stop, err := m.Serve(nc)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	ask := func(verb string, req any) Reply {
		t.Helper()
		b, _ := json.Marshal(req)
		msg, err := nc.Request(contract.WatchPrefix+verb, b, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		var r Reply
		if err := json.Unmarshal(msg.Data, &r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	// The default cadence's cron expressions are accepted by the server.
	if r := ask("register", Request{Omfragad: "5566778899"}); r.Error != "" || r.Registration.Omfragad != "165566778899" {
		t.Fatalf("register: %+v", r)
	}
	if r := ask("register", Request{Omfragad: "165560000167", Cadence: "6h", Operations: []string{"saldo"}}); r.Error != "" {
		t.Fatalf("register: %+v", r)
	}
	// Registering again replaces the cadence.
	if r := ask("register", Request{Omfragad: "165566778899", Cadence: "0 0 7 * * 1-5"}); r.Error != "" {
		t.Fatalf("re-register: %+v", r)
	}
	list := ask("list", nil).Registrations
	want := []Registration{
		{Omfragad: "165560000167", Schedules: []Schedule{{"every", "0 0 0,6,12,18 * * *"}}, Operations: []string{"saldo"}},
		{Omfragad: "165566778899", Schedules: []Schedule{{"cron1", "0 0 7 * * 1-5"}}},
	}
	if diff := cmp.Diff(want, list); diff != "" {
		t.Fatalf("list (-want +got):\n%s", diff)
	}
	for _, bad := range []Request{{Omfragad: "165566778898"}, {Omfragad: "165566778899", Cadence: "0 0 4 * * *"}, {Omfragad: "165566778899", Operations: []string{"skulder"}}, {Omfragad: "165566778899", Operations: []string{"saldo", "saldo"}}} {
		if r := ask("register", bad); r.Error == "" {
			t.Errorf("register %+v accepted", bad)
		}
	}
	if r := ask("unregister", Request{Omfragad: "165566778899"}); r.Error != "" || r.Removed == nil || !*r.Removed {
		t.Fatalf("unregister: %+v", r)
	}
	if r := ask("unregister", Request{Omfragad: "165566778899"}); r.Removed == nil || *r.Removed {
		t.Fatalf("second unregister: %+v", r)
	}
	if got := ask("list", nil).Registrations; len(got) != 1 {
		t.Fatalf("after unregister: %+v", got)
	}
}
