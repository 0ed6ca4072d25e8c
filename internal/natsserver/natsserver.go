// Package natsserver runs an embedded NATS server with JetStream, for the
// worker's local default and for tests.
package natsserver

import (
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Config configures an embedded server. The zero value listens on a
// random loopback port and stores under a directory that must be set.
type Config struct {
	// StoreDir is where JetStream keeps its files.
	StoreDir string
	// Host and Port to listen on; Port -1 (or 0) picks a free port.
	Host string
	Port int
	// ServerName names the server (required in a cluster).
	ServerName string
	// Cluster, when set, joins a JetStream cluster: its name, this
	// server's cluster listen port and the routes to the others.
	ClusterName string
	ClusterPort int
	Routes      []string
	// Users, when set, are the only clients admitted, and NoAuthUser (a
	// user's key) is who a client without credentials connects as.
	Users      []*server.NkeyUser
	NoAuthUser string

	// MaxStore caps JetStream's file storage in bytes; 0: the server's
	// default (most of the disk).
	MaxStore int64
	// ClientAdvertise is the host:port the server tells clients to
	// reconnect to instead of its own listen address; ClusterAdvertise is
	// the route address it tells other servers. Empty: its own. (A test
	// that puts proxies in front of the servers sets both.)
	ClientAdvertise  string
	ClusterAdvertise string
	// SyncInterval, when positive, lets the server acknowledge writes
	// before they are on disk and fsync them in the background every
	// SyncInterval (nats-server's own default is two minutes): a power
	// loss or kernel crash then loses up to that much acknowledged data.
	// Zero, the default here, fsyncs every write before acknowledging it
	// (nats-server's "sync_interval: always"); atomic batches cost one
	// fsync each.
	SyncInterval time.Duration
}

// SyncsBeforeAck reports whether a server started with c writes to disk
// before it acknowledges.
func (c Config) SyncsBeforeAck() bool { return c.SyncInterval <= 0 }

// Start starts a server and waits until it accepts connections.
func Start(cfg Config) (*server.Server, error) {
	if cfg.StoreDir == "" {
		return nil, errors.New("natsserver: StoreDir is required")
	}
	if cfg.Host == "" {
		cfg.Host = "127.0.0.1"
	}
	if cfg.Port == 0 {
		cfg.Port = -1
	}
	opts := &server.Options{
		ServerName: cfg.ServerName,
		Host:       cfg.Host,
		Port:       cfg.Port,
		JetStream:  true,
		StoreDir:   cfg.StoreDir,
		NoSigs:     true,
		NoLog:      true,
		Nkeys:      cfg.Users,
		NoAuthUser: cfg.NoAuthUser,

		JetStreamMaxStore: cfg.MaxStore,
		ClientAdvertise:   cfg.ClientAdvertise,
	}
	if cfg.SyncsBeforeAck() {
		opts.SyncAlways = true
	} else {
		opts.SyncInterval = cfg.SyncInterval
	}
	if cfg.ClusterName != "" {
		opts.Cluster.Name = cfg.ClusterName
		opts.Cluster.Host = cfg.Host
		opts.Cluster.Port = cfg.ClusterPort
		opts.Cluster.Advertise = cfg.ClusterAdvertise
		routes, err := routeURLs(cfg.Routes)
		if err != nil {
			return nil, err
		}
		opts.Routes = routes
	}
	s, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("natsserver: %w", err)
	}
	s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		s.Shutdown()
		return nil, errors.New("natsserver: not ready for connections after 10s")
	}
	return s, nil
}
