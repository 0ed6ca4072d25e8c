package loadtest

import (
	"os"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// NATSFigures are what one contender's NATS connections exchanged with
// the server during a phase, as the embedded server counts them: the
// messages the client sent (requests, pulls, published events and
// states, acks) and the messages the server sent it (delivered requests,
// answers to its requests, publish acks), and the acks (with naks and
// in-progress acks) among the messages sent.
type NATSFigures struct {
	MsgsToServer    int64 `json:"msgsToServer"`
	MsgsFromServer  int64 `json:"msgsFromServer"`
	BytesToServer   int64 `json:"bytesToServer"`
	BytesFromServer int64 `json:"bytesFromServer"`
	Acks            int64 `json:"acks"`
	// OneWayAcks are the acks that ask for no reply (a confirmed ack's
	// reply is among the messages from the server).
	OneWayAcks int64 `json:"oneWayAcks"`
	// Per answered request. RoundTrips counts, per refresh, each message
	// the server sent (each ends an exchange the client waited for: a
	// delivered request, a state read, a publish or commit ack, a
	// confirmed ack's reply) and each one-way ack: consume, state read,
	// commit, ack.
	MsgsToServerPerRefresh   float64 `json:"msgsToServerPerRefresh"`
	MsgsFromServerPerRefresh float64 `json:"msgsFromServerPerRefresh"`
	BytesPerRefresh          float64 `json:"bytesPerRefresh"`
	RoundTripsPerRefresh     float64 `json:"roundTripsPerRefresh"`
}

func (f NATSFigures) sub(g NATSFigures) NATSFigures {
	return NATSFigures{MsgsToServer: f.MsgsToServer - g.MsgsToServer, MsgsFromServer: f.MsgsFromServer - g.MsgsFromServer,
		BytesToServer: f.BytesToServer - g.BytesToServer, BytesFromServer: f.BytesFromServer - g.BytesFromServer, Acks: f.Acks - g.Acks,
		OneWayAcks: f.OneWayAcks - g.OneWayAcks}
}

func (f NATSFigures) add(g NATSFigures) NATSFigures {
	return NATSFigures{MsgsToServer: f.MsgsToServer + g.MsgsToServer, MsgsFromServer: f.MsgsFromServer + g.MsgsFromServer,
		BytesToServer: f.BytesToServer + g.BytesToServer, BytesFromServer: f.BytesFromServer + g.BytesFromServer, Acks: f.Acks + g.Acks,
		OneWayAcks: f.OneWayAcks + g.OneWayAcks}
}

// perRefresh fills in the figures per answered request.
func (f *NATSFigures) perRefresh(answered int) {
	if answered == 0 {
		return
	}
	n := float64(answered)
	f.MsgsToServerPerRefresh = float64(f.MsgsToServer) / n
	f.MsgsFromServerPerRefresh = float64(f.MsgsFromServer) / n
	f.BytesPerRefresh = float64(f.BytesToServer+f.BytesFromServer) / n
	f.RoundTripsPerRefresh = float64(f.MsgsFromServer+f.OneWayAcks) / n
}

// connFigures sums the server's counts of the connections named name on
// the first embedded server; ok is false without an embedded server.
func (e *natsEnv) connFigures(name string) (f NATSFigures, ok bool) {
	e.mu.Lock()
	var s *server.Server
	if len(e.servers) > 0 {
		s = e.servers[0]
	}
	e.mu.Unlock()
	if s == nil {
		return f, false
	}
	cz, err := s.Connz(&server.ConnzOptions{Limit: server.DefaultConnListSize})
	if err != nil {
		return f, false
	}
	for _, c := range cz.Conns {
		if c.Name != name {
			continue
		}
		// The server's "in" is what the client sent.
		f.MsgsToServer += c.InMsgs
		f.MsgsFromServer += c.OutMsgs
		f.BytesToServer += c.InBytes
		f.BytesFromServer += c.OutBytes
	}
	return f, true
}

// ackTap counts the acks sent to a stream's consumers (a plain
// subscription to the ack subjects, which every ack is published on) and
// hands each ack's stream sequence to onAck.
type ackTap struct {
	// n counts every ack; oneWay those that ask for no reply (a
	// confirmed ack's reply is one of the server's messages).
	n, oneWay atomic.Int64
	onAck     func(streamSeq uint64)
}

func (t *ackTap) handle(m *nats.Msg) {
	t.n.Add(1)
	if m.Reply == "" {
		t.oneWay.Add(1)
	}
	if t.onAck == nil {
		return
	}
	if body := string(m.Data); body != "" && body != "+ACK" {
		return // a nak, an in-progress ack or a term
	}
	if seq, ok := ackStreamSeq(m.Subject); ok {
		t.onAck(seq)
	}
}

// ackSubject is the filter of every ack to stream's consumers.
func ackSubject(stream string) string { return "$JS.ACK." + stream + ".>" }

// ackStreamSeq reads the stream sequence from an ack subject, in its
// first form ($JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>)
// or with domain and account ($JS.ACK.<domain>.<hash>.<stream>.… and a
// random token after).
func ackStreamSeq(subj string) (uint64, bool) {
	t := strings.Split(subj, ".")
	var s string
	switch {
	case len(t) == 9:
		s = t[5]
	case len(t) >= 11:
		s = t[7]
	default:
		return 0, false
	}
	n, err := strconv.ParseUint(s, 10, 64)
	return n, err == nil
}

// loadAverage returns /proc/loadavg's first three figures.
func loadAverage() [3]float64 {
	var out [3]float64
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return out
	}
	for i, f := range strings.Fields(string(b)) {
		if i >= 3 {
			break
		}
		out[i], _ = strconv.ParseFloat(f, 64)
	}
	return out
}
