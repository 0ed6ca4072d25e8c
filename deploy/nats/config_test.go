package natsconf

import (
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"
	"go.yaml.in/yaml/v3"
)

// keyVariables returns the environment variables auth.conf reads the
// users' keys from.
func keyVariables(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("auth.conf")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range regexp.MustCompile(`(?m)^[^#\n]*\bnkey: \$([A-Z_]+)`).FindAllSubmatch(b, -1) {
		out = append(out, string(m[1]))
	}
	sort.Strings(out)
	return out
}

// setKeys puts a fresh public user key into each variable.
func setKeys(t *testing.T, vars []string) {
	t.Helper()
	for _, v := range vars {
		kp, err := nkeys.CreateUser()
		if err != nil {
			t.Fatal(err)
		}
		pub, err := kp.PublicKey()
		if err != nil {
			t.Fatal(err)
		}
		t.Setenv(v, pub)
	}
}

func TestAuthConfReadsOneKeyPerRole(t *testing.T) {
	var want []string
	for _, r := range roles {
		want = append(want, "SKATTEKONTO_"+r+"_NKEY")
	}
	sort.Strings(want)
	if diff := cmp.Diff(want, keyVariables(t)); diff != "" {
		t.Errorf("auth.conf's key variables (-roles +auth.conf):\n%s", diff)
	}
}

// TestClusterConf loads the cluster example as nats-server would: it must
// fsync before acknowledging, form a three-node cluster and carry the
// four roles.
func TestClusterConf(t *testing.T) {
	setKeys(t, keyVariables(t))
	t.Setenv("SERVER_NAME", "nats-0")
	opts, err := server.ProcessConfigFile("cluster.conf")
	if err != nil {
		t.Fatal(err)
	}
	if !opts.SyncAlways {
		t.Error("cluster.conf does not fsync before acknowledging (jetstream.sync_interval: always)")
	}
	if !opts.JetStream || opts.StoreDir == "" {
		t.Errorf("JetStream %v with store %q", opts.JetStream, opts.StoreDir)
	}
	if opts.ServerName != "nats-0" || opts.Cluster.Name == "" || len(opts.Routes) != 3 {
		t.Errorf("server %q in cluster %q with %d routes, want nats-0 in a named cluster of 3", opts.ServerName, opts.Cluster.Name, len(opts.Routes))
	}
	if len(opts.Nkeys) != len(roles) {
		t.Fatalf("%d users, want %d", len(opts.Nkeys), len(roles))
	}
	for _, u := range opts.Nkeys {
		if u.Permissions == nil || u.Permissions.Publish == nil || u.Permissions.Subscribe == nil {
			t.Errorf("user %s without publish and subscribe permissions", u.Nkey)
		}
	}
}

// TestMissingKeyStopsTheServer: a role whose key is not set must stop the
// server at start, not leave it open or without that role unnoticed.
func TestMissingKeyStopsTheServer(t *testing.T) {
	vars := keyVariables(t)
	setKeys(t, vars[1:])
	t.Setenv(vars[0], "") // restored after the test
	if err := os.Unsetenv(vars[0]); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SERVER_NAME", "nats-0")
	if _, err := server.ProcessConfigFile("cluster.conf"); err == nil {
		t.Fatalf("the server starts without %s", vars[0])
	} else {
		t.Logf("without %s: %v", vars[0], err)
	}
}

// TestHelmValues keeps helm-values.yaml and users.example.yaml in step
// with auth.conf: fsync before ack, auth.conf included under the name the
// install command gives it, and every key variable taken from the users'
// Secret.
func TestHelmValues(t *testing.T) {
	raw, err := os.ReadFile("helm-values.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var values struct {
		Config struct {
			JetStream struct {
				Enabled bool           `yaml:"enabled"`
				Merge   map[string]any `yaml:"merge"`
			} `yaml:"jetstream"`
			Cluster struct {
				Enabled  bool `yaml:"enabled"`
				Replicas int  `yaml:"replicas"`
			} `yaml:"cluster"`
			Merge map[string]any `yaml:"merge"`
		} `yaml:"config"`
		Container struct {
			Env map[string]struct {
				ValueFrom struct {
					SecretKeyRef struct {
						Name string `yaml:"name"`
						Key  string `yaml:"key"`
					} `yaml:"secretKeyRef"`
				} `yaml:"valueFrom"`
			} `yaml:"env"`
		} `yaml:"container"`
	}
	if err := yaml.Unmarshal(raw, &values); err != nil {
		t.Fatal(err)
	}
	var users struct {
		Metadata   struct{ Name string } `yaml:"metadata"`
		StringData map[string]string     `yaml:"stringData"`
	}
	b, err := os.ReadFile("users.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &users); err != nil {
		t.Fatal(err)
	}

	c := values.Config
	if !c.JetStream.Enabled || !c.Cluster.Enabled || c.Cluster.Replicas != 3 {
		t.Errorf("JetStream %v, cluster %v of %d: want JetStream on 3 nodes", c.JetStream.Enabled, c.Cluster.Enabled, c.Cluster.Replicas)
	}
	if got := c.JetStream.Merge["sync_interval"]; got != "always" {
		t.Errorf("jetstream sync_interval %v, want always (fsync before ack)", got)
	}
	var include string
	for k, v := range c.Merge {
		if strings.HasSuffix(k, "$include") {
			include, _ = v.(string)
		}
	}
	name := strings.TrimPrefix(include, "./")
	if name == "" || !strings.Contains(string(raw), "configMap.merge.data."+strings.ReplaceAll(name, ".", `\.`)+"=deploy/nats/auth.conf") {
		t.Errorf("config.merge includes %q, which the install command does not add as auth.conf", include)
	}
	vars := keyVariables(t)
	var env, secret []string
	for k, v := range values.Container.Env {
		env = append(env, k)
		if ref := v.ValueFrom.SecretKeyRef; ref.Name != users.Metadata.Name || ref.Key != k {
			t.Errorf("%s comes from Secret %s key %s, want %s key %s", k, ref.Name, ref.Key, users.Metadata.Name, k)
		}
	}
	for k := range users.StringData {
		secret = append(secret, k)
	}
	sort.Strings(env)
	sort.Strings(secret)
	if !slices.Equal(env, vars) || !slices.Equal(secret, vars) {
		t.Errorf("auth.conf reads %v; helm-values.yaml sets %v; users.example.yaml holds %v", vars, env, secret)
	}
}
