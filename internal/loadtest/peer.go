package loadtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/skattekonto-events/skattekonto-events/internal/config"
)

// The peer is the contender of a comparison run (Compare): what a team
// could write in a day instead of this project, written to be good at
// what it does. It consumes fetch requests from a durable JetStream pull
// consumer of its own, with PeerConcurrency handlers at once; for each it
// calls saldo and transaktioner, publishes the two raw answers as one
// message to a stream of its own (waiting for the stream's ack), and
// acknowledges the request. It keeps no state and diffs nothing: every
// refresh costs two API calls and one message, and a redelivered request
// is published again (de-duplicated by Nats-Msg-Id within the window).
//
// The poller in issue 15 was built with Watermill and watermill-nats;
// this one uses nats.go's jetstream package directly, which does the same
// with less in between: one pull iterator, plain Ack, synchronous publish.
const (
	peerRequests      = "PEER_REQUESTS"
	peerAnswers       = "PEER_ANSWERS"
	peerFetchPrefix   = "peer.fetch."
	peerAnswersPrefix = "peer.answers."
	peerDurable       = "peer"
	// PeerConnectionName is the name of the peer's NATS connection.
	PeerConnectionName = "skattekonto-peer"
	// PeerConcurrency is the peer's default number of handlers, as in
	// the poller of issue 15 (16 Watermill subscribers).
	PeerConcurrency = 16
	// peerRequestIDHeader carries the request id on the peer's answer.
	peerRequestIDHeader = "Peer-Request-Id"
)

// peerStreams are the peer's request queue and its answers stream, both
// on file storage like the worker's.
func peerStreams() []jetstream.StreamConfig {
	return []jetstream.StreamConfig{
		{Name: peerRequests, Subjects: []string{peerFetchPrefix + ">"}, Retention: jetstream.WorkQueuePolicy, Storage: jetstream.FileStorage},
		{Name: peerAnswers, Subjects: []string{peerAnswersPrefix + ">"}, Retention: jetstream.LimitsPolicy, Storage: jetstream.FileStorage,
			Duplicates: 10 * time.Minute},
	}
}

// peerConsumer is the peer's durable pull consumer: explicit acks, as the
// worker's.
func peerConsumer(concurrency int) jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable: peerDurable, AckPolicy: jetstream.AckExplicitPolicy, AckWait: 30 * time.Second,
		MaxDeliver: 5, MaxAckPending: max(1000, 4*concurrency),
	}
}

// RunPeer runs the peer until ctx ends. It reads the worker's environment
// (NATS_URL, SKV_BASE_URL, SKV_TOKEN_URL, SKV_CLIENT_ID, SKV_CLIENT_SECRET,
// SKV_SCOPE, SKV_CORRELATION_HEADER) and PEER_CONCURRENCY (default
// PeerConcurrency), and writes a CPU profile to cpuprofile when not empty.
func RunPeer(ctx context.Context, cpuprofile string) error {
	cfg, err := config.Load()
	if err != nil {
		return err
	}
	if cfg.NATSURL == "" || cfg.Sim() {
		return errors.New("peer: NATS_URL and SKV_BASE_URL are required")
	}
	conc := PeerConcurrency
	if v := os.Getenv("PEER_CONCURRENCY"); v != "" {
		if conc, err = strconv.Atoi(v); err != nil || conc < 1 {
			return fmt.Errorf("peer: PEER_CONCURRENCY %q: want a positive number", v)
		}
	}
	if cpuprofile != "" {
		f, err := os.Create(cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	nc, err := nats.Connect(cfg.NATSURL, nats.Name(PeerConnectionName), nats.MaxReconnects(-1))
	if err != nil {
		return fmt.Errorf("peer: connect: %w", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	for _, sc := range peerStreams() {
		if _, err := js.CreateOrUpdateStream(ctx, sc); err != nil {
			return fmt.Errorf("peer: stream %s: %w", sc.Name, err)
		}
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, peerRequests, peerConsumer(conc))
	if err != nil {
		return fmt.Errorf("peer: consumer: %w", err)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = conc // a connection per handler, kept
	hc := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	cc := &clientcredentials.Config{ClientID: cfg.SKVClientID, ClientSecret: cfg.SKVClientSecret, TokenURL: cfg.SKVTokenURL,
		Scopes: []string{cfg.SKVScope}}
	p := &peer{
		js: js, hc: hc, base: strings.TrimRight(cfg.SKVBaseURL, "/"), clientID: cfg.SKVClientID, secret: cfg.SKVClientSecret,
		corrHeader: cfg.CorrelationHeader,
		// One cached token for every call, renewed when it expires.
		ts: oauth2.ReuseTokenSource(nil, cc.TokenSource(context.WithValue(context.Background(), oauth2.HTTPClient, hc))),
	}
	return p.run(ctx, cons, conc)
}

type peer struct {
	js                                 jetstream.JetStream
	hc                                 *http.Client
	ts                                 oauth2.TokenSource
	base, clientID, secret, corrHeader string
}

// run pulls requests with conc handlers until ctx ends, then lets the
// handlers finish what they hold.
func (p *peer) run(ctx context.Context, cons jetstream.Consumer, conc int) error {
	iter, err := cons.Messages()
	if err != nil {
		return fmt.Errorf("peer: consume: %w", err)
	}
	var wg sync.WaitGroup
	for range conc {
		wg.Go(func() {
			for {
				msg, err := iter.Next()
				if err != nil {
					if errors.Is(err, jetstream.ErrMsgIteratorClosed) {
						return
					}
					continue
				}
				p.handle(context.WithoutCancel(ctx), msg)
			}
		})
	}
	<-ctx.Done()
	iter.Stop()
	wg.Wait()
	return nil
}

// handle serves one request: two calls, one answer, ack. A failure gives
// the request back for a later delivery.
func (p *peer) handle(ctx context.Context, msg jetstream.Msg) {
	acct := strings.TrimPrefix(msg.Subject(), peerFetchPrefix)
	var req struct {
		RequestID string `json:"requestId"`
	}
	_ = json.Unmarshal(msg.Data(), &req) // a request without an id is still served
	saldo, err := p.get(ctx, acct, "saldo")
	if err == nil {
		var tx []byte
		tx, err = p.get(ctx, acct, "transaktioner")
		if err == nil {
			err = p.publish(ctx, acct, req.RequestID, msg.Headers().Get(nats.MsgIdHdr), saldo, tx)
		}
	}
	if err != nil {
		_ = msg.NakWithDelay(time.Second)
		return
	}
	_ = msg.Ack()
}

// get calls one operation and returns its raw answer.
func (p *peer) get(ctx context.Context, acct, op string) ([]byte, error) {
	tok, err := p.ts.Token()
	if err != nil {
		return nil, fmt.Errorf("token: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.base+"/skattekonton/"+acct+"/"+op, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	req.Header.Set("client_id", p.clientID)
	req.Header.Set("client_secret", p.secret)
	req.Header.Set(p.corrHeader, uuid.NewString())
	resp, err := p.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", op, resp.Status)
	}
	return body, nil
}

// publish stores the raw answers as one message and waits for the
// stream's ack. The request's Nats-Msg-Id makes a redelivery's answer a
// duplicate the stream drops.
func (p *peer) publish(ctx context.Context, acct, requestID, msgID string, saldo, tx []byte) error {
	body := make([]byte, 0, len(saldo)+len(tx)+len(acct)+len(requestID)+64)
	body = append(body, `{"omfragad":`...)
	body = strconv.AppendQuote(body, acct)
	body = append(body, `,"requestId":`...)
	body = strconv.AppendQuote(body, requestID)
	body = append(body, `,"saldo":`...)
	body = append(body, saldo...)
	body = append(body, `,"transaktioner":`...)
	body = append(body, tx...)
	body = append(body, '}')
	m := nats.NewMsg(peerAnswersPrefix + acct)
	m.Data = body
	m.Header.Set(peerRequestIDHeader, requestID)
	if msgID != "" {
		m.Header.Set(nats.MsgIdHdr, msgID)
	}
	if _, err := p.js.PublishMsg(ctx, m); err != nil {
		return fmt.Errorf("publish answer: %w", err)
	}
	return nil
}
