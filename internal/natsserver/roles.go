package natsserver

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"

	natsconf "github.com/skattekonto-events/skattekonto-events/deploy/nats"
	"github.com/skattekonto-events/skattekonto-events/internal/contract"
)

// The roles of deploy/nats/auth.conf, by the name of their key variable
// (SKATTEKONTO_<role>_NKEY).
const (
	RoleWorker    = "WORKER"
	RoleRequester = "REQUESTER"
	RoleReader    = "READER"
	RoleOperator  = "OPERATOR"
)

// LocalInboxPrefix is the inbox prefix of the embedded server's
// anonymous clients: they may subscribe below it and not to "_INBOX.>",
// where the worker receives its requests and account states.
// cmd/skattekonto uses it unless NATS_INBOX_PREFIX says otherwise.
const LocalInboxPrefix = "_INBOX_local"

// WorkerKeyFile is the file in the store directory holding the seed of
// the embedded server's worker user.
const WorkerKeyFile = "worker.nk"

// StreamCreateSubjects are what the worker needs beyond its role to
// create its streams and its consumer itself (STREAMS_AUTO_CREATE=true,
// the embedded default). docs/roles.md lists them for operators.
var StreamCreateSubjects = []string{
	"$JS.API.STREAM.CREATE." + contract.FetchStream,
	"$JS.API.STREAM.UPDATE." + contract.FetchStream,
	"$JS.API.STREAM.CREATE." + contract.EventsStream,
	"$JS.API.STREAM.UPDATE." + contract.EventsStream,
	// The partitions' consumers (skattekonto.fetch.<p>.*), and the legacy
	// consumer narrowed to skattekonto.fetch.* and deleted once empty.
	"$JS.API.CONSUMER.CREATE." + contract.FetchStream + ".*." + contract.FetchPrefix + ">",
	"$JS.API.CONSUMER.DELETE." + contract.FetchStream + "." + contract.Durable,
	"$JS.API.STREAM.CREATE.OBJ_" + contract.AuditBucket,
	"$JS.API.STREAM.UPDATE.OBJ_" + contract.AuditBucket,
	"$JS.API.STREAM.CREATE." + contract.WebhooksStream,
	"$JS.API.STREAM.UPDATE." + contract.WebhooksStream,
	"$JS.API.CONSUMER.CREATE." + contract.EventsStream + ".>",
	"$JS.API.CONSUMER.DELETE." + contract.EventsStream + ".*",
	"$JS.API.CONSUMER.NAMES." + contract.EventsStream,
}

// localFollow is what a client of the embedded server may do beyond the
// requester and reader roles, for cmd/skattekonto: follow reads the
// events through an ordered consumer, fetch -wait subscribes to an
// account's events, sie reads an account's NewTransaction events. It may
// create consumers on the events stream only with a filter below
// skattekonto.events., never the states, and delete consumers of the
// events stream. Production readers may do neither (docs/roles.md): a
// push consumer delivers into any subject. The embedded server listens on
// loopback for one developer, where following the events matters more.
var localFollow = server.Permissions{
	Publish: &server.SubjectPermission{Allow: []string{
		"$JS.API.STREAM.INFO." + contract.EventsStream,
		"$JS.API.DIRECT.GET." + contract.EventsStream + "." + contract.EventsPrefix + ">",
		"$JS.API.CONSUMER.CREATE." + contract.EventsStream + ".*." + contract.EventsPrefix + ">",
		"$JS.API.CONSUMER.INFO." + contract.EventsStream + ".*",
		"$JS.API.CONSUMER.MSG.NEXT." + contract.EventsStream + ".*",
		// An ordered consumer deletes the one it replaces; their names are
		// made up, so this cannot be narrowed to them.
		"$JS.API.CONSUMER.DELETE." + contract.EventsStream + ".*",
	}},
	Subscribe: &server.SubjectPermission{Allow: []string{
		contract.EventsPrefix + ">",
		LocalInboxPrefix + ".>",
	}},
}

// Roles returns the permissions of each role in deploy/nats/auth.conf,
// read by nats-server's own configuration parser, keyed by role name.
func Roles() (map[string]*server.Permissions, error) {
	roles := []string{RoleWorker, RoleRequester, RoleReader, RoleOperator}
	var defs strings.Builder
	byKey := map[string]string{}
	for _, r := range roles {
		kp, err := nkeys.CreateUser()
		if err != nil {
			return nil, fmt.Errorf("natsserver: roles: %w", err)
		}
		pub, err := kp.PublicKey()
		if err != nil {
			return nil, fmt.Errorf("natsserver: roles: %w", err)
		}
		byKey[pub] = r
		// Defined in the file, so the parser does not look them up in the
		// environment.
		fmt.Fprintf(&defs, "SKATTEKONTO_%s_NKEY: %q\n", r, pub)
	}
	opts := &server.Options{}
	if err := opts.ProcessConfigString(defs.String() + natsconf.AuthConf); err != nil {
		return nil, fmt.Errorf("natsserver: deploy/nats/auth.conf: %w", err)
	}
	out := map[string]*server.Permissions{}
	for _, u := range opts.Nkeys {
		if r, ok := byKey[u.Nkey]; ok {
			out[r] = u.Permissions
		}
	}
	for _, r := range roles {
		if out[r] == nil {
			return nil, fmt.Errorf("natsserver: deploy/nats/auth.conf: no user with role %s", r)
		}
	}
	return out, nil
}

// LocalPermissions returns the embedded server's two users' permissions:
// the worker's (its role, plus creating its streams and consumer) and
// the anonymous local clients' (requester and reader, plus following the
// events for cmd/skattekonto).
func LocalPermissions() (worker, local *server.Permissions, err error) {
	roles, err := Roles()
	if err != nil {
		return nil, nil, err
	}
	worker = union(roles[RoleWorker], &server.Permissions{Publish: &server.SubjectPermission{Allow: StreamCreateSubjects}})
	local = union(union(roles[RoleRequester], roles[RoleReader]), &localFollow)
	return worker, local, nil
}

// union grants what either grants. Neither may deny anything: a deny
// list would not combine by concatenation.
func union(a, b *server.Permissions) *server.Permissions {
	out := &server.Permissions{
		Publish:   &server.SubjectPermission{},
		Subscribe: &server.SubjectPermission{},
	}
	for _, p := range []*server.Permissions{a, b} {
		if p.Publish != nil {
			out.Publish.Allow = append(out.Publish.Allow, p.Publish.Allow...)
			out.Publish.Deny = append(out.Publish.Deny, p.Publish.Deny...)
		}
		if p.Subscribe != nil {
			out.Subscribe.Allow = append(out.Subscribe.Allow, p.Subscribe.Allow...)
			out.Subscribe.Deny = append(out.Subscribe.Deny, p.Subscribe.Deny...)
		}
		if p.Response != nil {
			out.Response = p.Response
		}
	}
	out.Publish.Allow = slices.Compact(slices.Sorted(slices.Values(out.Publish.Allow)))
	out.Subscribe.Allow = slices.Compact(slices.Sorted(slices.Values(out.Subscribe.Allow)))
	return out
}

// localUsers makes the embedded server's users: the worker, whose fresh
// seed is written to storeDir/worker.nk (mode 0600) for this and any
// joining worker, and an anonymous user for every client that connects
// without credentials.
func localUsers(storeDir string) (users []*server.NkeyUser, noAuth string, err error) {
	workerPerms, localPerms, err := LocalPermissions()
	if err != nil {
		return nil, "", err
	}
	worker, err := nkeys.CreateUser()
	if err != nil {
		return nil, "", fmt.Errorf("natsserver: worker key: %w", err)
	}
	seed, err := worker.Seed()
	if err != nil {
		return nil, "", fmt.Errorf("natsserver: worker key: %w", err)
	}
	workerPub, err := worker.PublicKey()
	if err != nil {
		return nil, "", fmt.Errorf("natsserver: worker key: %w", err)
	}
	if err := writeSecret(filepath.Join(storeDir, WorkerKeyFile), seed); err != nil {
		return nil, "", err
	}
	// Nobody holds the anonymous user's seed: it is only ever used as
	// no_auth_user.
	anon, err := nkeys.CreateUser()
	if err != nil {
		return nil, "", fmt.Errorf("natsserver: anonymous key: %w", err)
	}
	anonPub, err := anon.PublicKey()
	if err != nil {
		return nil, "", fmt.Errorf("natsserver: anonymous key: %w", err)
	}
	return []*server.NkeyUser{
		{Nkey: workerPub, Permissions: workerPerms},
		{Nkey: anonPub, Permissions: localPerms},
	}, anonPub, nil
}

// writeSecret writes b to path, readable by its owner only, replacing
// any earlier file in one step.
func writeSecret(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("natsserver: %w", err)
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".worker-nk-*")
	if err != nil {
		return fmt.Errorf("natsserver: %w", err)
	}
	_, werr := f.Write(append(b, '\n'))
	cerr := f.Close()
	if err := errors.Join(werr, cerr); err != nil {
		_ = os.Remove(f.Name())
		return fmt.Errorf("natsserver: write the worker's key: %w", err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		_ = os.Remove(f.Name())
		return fmt.Errorf("natsserver: write the worker's key: %w", err)
	}
	return nil
}
