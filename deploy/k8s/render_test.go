package k8s

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// kustomizeVersion is the release .ci/k8s.sh installs.
const kustomizeVersion = "v5.8.1"

// kustomizeBinary finds kustomize: $KUSTOMIZE, else where .ci/k8s.sh
// installs it, else on the PATH. Without one the test is skipped, except
// in CI, which runs .ci/k8s.sh (and so installs it) before the tests.
func kustomizeBinary(t *testing.T) string {
	t.Helper()
	if k := os.Getenv("KUSTOMIZE"); k != "" {
		return k
	}
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		if home, err := os.UserHomeDir(); err == nil {
			cache = filepath.Join(home, ".cache")
		}
	}
	tools := os.Getenv("K8S_TOOLS")
	if tools == "" {
		tools = filepath.Join(cache, "skattekonto-ci")
	}
	if k := filepath.Join(tools, "bin", "kustomize"); cache != "" {
		if _, err := os.Stat(k); err == nil {
			return k
		}
	}
	if k, err := exec.LookPath("kustomize"); err == nil {
		return k
	}
	if os.Getenv("CI") != "" {
		t.Fatal("kustomize not found: .ci/k8s.sh installs it before the tests run")
	}
	t.Skip("kustomize not found: run `bash .ci/k8s.sh` once (it installs kustomize " + kustomizeVersion + ") or set KUSTOMIZE")
	return ""
}

// object is one rendered Kubernetes object.
type object map[string]any

func (o object) kind() string { return str(o["kind"]) }
func (o object) name() string { return str(get(o, "metadata", "name")) }

// namespace is the object's namespace, "default" when the kustomization
// sets none (as kubectl apply would place it).
func (o object) namespace() string {
	if ns := str(get(o, "metadata", "namespace")); ns != "" {
		return ns
	}
	return "default"
}

// get walks maps by key.
func get(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			m, ok = v.(object)
		}
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

func list(v any) []any {
	l, _ := v.([]any)
	return l
}

func labels(v any) map[string]string {
	out := map[string]string{}
	m, _ := v.(map[string]any)
	for k, v := range m {
		out[k] = str(v)
	}
	return out
}

// rendered is the output of one kustomization.
type rendered struct {
	dir     string
	objects []object
}

// find returns the object of that kind and name, failing the test without one.
func (r rendered) find(t *testing.T, kind, name string) object {
	t.Helper()
	for _, o := range r.objects {
		if o.kind() == kind && o.name() == name {
			return o
		}
	}
	t.Fatalf("%s: no %s %s", r.dir, kind, name)
	return nil
}

func (r rendered) all(kind string) []object {
	var out []object
	for _, o := range r.objects {
		if o.kind() == kind {
			out = append(out, o)
		}
	}
	return out
}

// renderAll renders the base and every overlay, as .ci/k8s.sh does.
func renderAll(t *testing.T) []rendered {
	t.Helper()
	bin := kustomizeBinary(t)
	dirs := []string{"base"}
	overlays, err := filepath.Glob(filepath.Join("overlays", "*", "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range overlays {
		dirs = append(dirs, filepath.Dir(o))
	}
	var out []rendered
	for _, dir := range dirs {
		cmd := exec.Command(bin, "build", dir)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		b, err := cmd.Output()
		if err != nil {
			t.Fatalf("kustomize build %s: %v\n%s", dir, err, stderr.String())
		}
		r := rendered{dir: dir}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		for {
			var o map[string]any
			if err := dec.Decode(&o); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatalf("%s: %v", dir, err)
			}
			if o != nil {
				r.objects = append(r.objects, object(o))
			}
		}
		out = append(out, r)
	}
	return out
}

// addrPort is the port of a listen address such as ":8080".
func addrPort(addr string) string {
	return addr[strings.LastIndex(addr, ":")+1:]
}
