package loadtest

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// echoServer echoes every line on a loopback port until the test ends.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); _, _ = io.Copy(c, c) }()
		}
	}()
	return ln.Addr().String()
}

// roundTrip sends a line through addr and reads it back.
func roundTrip(addr string) error {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.WriteString(c, "ping\n"); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err == nil && line != "ping\n" {
		err = errors.New("echo garbled: " + line)
	}
	return err
}

// TestNetworkToxic: a toxic on a proxy breaks the connections through it
// while it lasts, and the link works again once it is taken off.
func TestNetworkToxic(t *testing.T) {
	n := newNetwork()
	t.Cleanup(n.close)
	p, err := n.proxy("echo", echoServer(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := roundTrip(p.Listen); err != nil {
		t.Fatalf("before the toxic: %v", err)
	}
	for _, tx := range []toxic{
		{Type: "reset_peer", Stream: "downstream", Attributes: map[string]any{"timeout": 0}},
		{Type: "timeout", Stream: "downstream", Attributes: map[string]any{"timeout": 100}},
		{Type: "reset_peer", Stream: "upstream", Attributes: map[string]any{"timeout": 0}},
	} {
		remove, err := n.add(tx, p)
		if err != nil {
			t.Fatalf("%s %s: %v", tx.Type, tx.Stream, err)
		}
		if err := roundTrip(p.Listen); err == nil {
			t.Errorf("%s %s: the echo came back through the toxic", tx.Type, tx.Stream)
		}
		remove()
		if err := roundTrip(p.Listen); err != nil {
			t.Errorf("after %s %s: %v", tx.Type, tx.Stream, err)
		}
	}
	if _, err := n.add(toxic{Type: "no-such-toxic", Stream: "upstream"}, p); err == nil {
		t.Error("an unknown toxic type: no error")
	}
}

// waitFor polls cond every 100 ms until it holds or a generous minute ends.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after a minute", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestNetworkIsolate: a cluster whose routes go through proxies; cutting
// one server's routes leaves it without any (no route past the proxies),
// and healing the cut brings them back.
func TestNetworkIsolate(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a three-node cluster")
	}
	e, err := planNATS(t.TempDir(), 3)
	if err != nil {
		t.Fatal(err)
	}
	n := newNetwork()
	t.Cleanup(n.close)
	if err := n.wireNATS(e); err != nil {
		t.Fatal(err)
	}
	if err := e.startAll(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.shutdown)
	routes := func(i int) int { return e.server(i).NumRoutes() }
	for i := range 3 {
		waitFor(t, "routes to both peers", func() bool { return routes(i) >= 2 })
	}
	heal := n.isolate(0)
	waitFor(t, "server 1 cut off", func() bool { return routes(0) == 0 })
	if err := heal(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "server 1 back", func() bool { return routes(0) >= 2 })
	if got := e.cfgs[0].ClientAdvertise; got != n.nats[0].Listen {
		t.Errorf("server 1 advertises %q to clients, want its proxy %q", got, n.nats[0].Listen)
	}
}

// TestFillStorage: with a storage limit, filler fills the storage until
// NATS refuses to store anything, in any stream; purging it frees the
// space again.
func TestFillStorage(t *testing.T) {
	if testing.Short() {
		t.Skip("writes tens of megabytes")
	}
	e, err := planNATS(t.TempDir(), 1)
	if err != nil {
		t.Fatal(err)
	}
	e.cfgs[0].MaxStore = storageLimit
	if err := e.startAll(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.shutdown)
	nc, js, err := connect(e.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	other, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "OTHER", Subjects: []string{"other"}, Storage: jetstream.FileStorage})
	if err != nil {
		t.Fatal(err)
	}
	filler, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: fillerStream, Subjects: []string{"loadtest.filler"}, Storage: jetstream.FileStorage})
	if err != nil {
		t.Fatal(err)
	}
	filled, err := fill(ctx, js)
	if err != nil || filled < storageLimit/2 {
		t.Fatalf("fill: %d bytes, %v", filled, err)
	}
	if _, err := js.Publish(ctx, "other", []byte("x")); !storageFull(err) {
		t.Fatalf("publish with the storage full: %v, want insufficient resources", err)
	}
	if err := filler.Purge(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, "other", []byte("x")); err != nil {
		t.Fatalf("publish after the purge: %v", err)
	}
	if info, err := other.Info(ctx); err != nil || info.State.Msgs != 1 {
		t.Errorf("other stream: %+v, %v", info, err)
	}
}
