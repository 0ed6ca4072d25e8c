package natsserver

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"syscall"

	"github.com/nats-io/nats-server/v2/server"
)

// Local is the NATS server a worker without NATS_URL uses: one it
// started itself, or another worker's on the same address.
type Local struct {
	// URL is the client URL to connect to.
	URL string
	// Joined is set when another process already listened on the
	// address and this one joined its server instead of starting one.
	Joined bool
	// WorkerNKey is the seed file of the server's worker user (in the
	// store directory), empty when a joined server's store directory has
	// none: the worker connects with it, clients without credentials get
	// the requester and reader roles (docs/roles.md).
	WorkerNKey string
	// SyncsBeforeAck reports whether the server started here writes to
	// disk before it acknowledges (Config.SyncInterval). A joined server
	// runs with the setting of the process that started it, which this
	// one cannot see: false then.
	SyncsBeforeAck bool
	srv            *server.Server
}

// StartOrJoin starts an embedded server with JetStream on addr
// (host:port), storing under cfg.StoreDir with cfg's SyncInterval (Host
// and Port come from addr), unless something already listens there: then
// it is taken to be another worker's embedded server and joined. The
// server it starts admits the roles of deploy/nats/auth.conf: the worker
// with a fresh key kept in the store directory, everyone else as
// requester and reader. Close stops a server it started.
func StartOrJoin(addr string, cfg Config) (*Local, error) {
	storeDir := cfg.StoreDir
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("natsserver: address %q: %w", addr, err)
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		return nil, fmt.Errorf("natsserver: address %q: port %q: %w", addr, port, err)
	}
	if p < 0 || p > 65535 {
		return nil, fmt.Errorf("natsserver: address %q: port %d is not between 0 and 65535", addr, p)
	}
	keyFile := filepath.Join(storeDir, WorkerKeyFile)
	if p != 0 && inUse(addr) {
		l := &Local{URL: "nats://" + addr, Joined: true}
		if _, err := os.Stat(keyFile); err == nil {
			l.WorkerNKey = keyFile
		}
		return l, nil
	}
	users, noAuth, err := localUsers(storeDir)
	if err != nil {
		return nil, err
	}
	cfg.Host, cfg.Port, cfg.Users, cfg.NoAuthUser = host, p, users, noAuth
	if cfg.ServerName == "" {
		cfg.ServerName = "skattekonto-embedded"
	}
	srv, err := Start(cfg)
	if err != nil {
		return nil, err
	}
	return &Local{URL: srv.ClientURL(), WorkerNKey: keyFile, SyncsBeforeAck: cfg.SyncsBeforeAck(), srv: srv}, nil
}

// Close shuts down the server if this process started it, and waits
// until it has stopped. A joined server is left running.
func (l *Local) Close() {
	if l.srv != nil {
		l.srv.Shutdown()
		l.srv.WaitForShutdown()
	}
}

// inUse reports whether something already listens on addr.
func inUse(addr string) bool {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return errors.Is(err, syscall.EADDRINUSE)
	}
	_ = ln.Close()
	return false
}
