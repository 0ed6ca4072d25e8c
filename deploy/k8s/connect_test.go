package k8s

import (
	"context"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/skattekonto-events/skattekonto-events/internal/contract"
	"github.com/skattekonto-events/skattekonto-events/internal/metrics"
)

// workerPod is the rendered worker Deployment's pod: its labels, its
// container's ports by name, its environment (ConfigMap included) and
// where its Secrets are mounted.
type workerPod struct {
	namespace string
	labels    map[string]string
	ports     map[string]int
	env       map[string]string
	secretDir map[string]string // mount path → Secret name
}

func podOf(t *testing.T, r rendered) workerPod {
	t.Helper()
	dep := r.find(t, "Deployment", "skattekonto-worker")
	spec := get(dep, "spec", "template", "spec")
	p := workerPod{
		namespace: dep.namespace(),
		labels:    labels(get(dep, "spec", "template", "metadata", "labels")),
		ports:     map[string]int{},
		env:       map[string]string{},
		secretDir: map[string]string{},
	}
	var c any
	for _, cc := range list(get(spec, "containers")) {
		if str(get(cc, "name")) == "worker" {
			c = cc
		}
	}
	if c == nil {
		t.Fatal("no container worker")
	}
	for _, port := range list(get(c, "ports")) {
		p.ports[str(get(port, "name"))] = get(port, "containerPort").(int)
	}
	for _, from := range list(get(c, "envFrom")) {
		if name := str(get(from, "configMapRef", "name")); name != "" {
			for k, v := range labels(get(r.find(t, "ConfigMap", name), "data")) {
				p.env[k] = v
			}
		}
	}
	secrets := map[string]string{}
	for _, v := range list(get(spec, "volumes")) {
		if s := str(get(v, "secret", "secretName")); s != "" {
			secrets[str(get(v, "name"))] = s
		}
	}
	for _, m := range list(get(c, "volumeMounts")) {
		if s, ok := secrets[str(get(m, "name"))]; ok {
			p.secretDir[str(get(m, "mountPath"))] = s
		}
	}
	return p
}

// TestManifestsConnect checks that what names something names what
// exists: selectors select the worker's pods, Service ports lead to
// container ports, the listen addresses are the container's ports, the
// NATS key is a mounted Secret, the ServiceMonitor finds the metrics
// Service, and KEDA alone sets the replicas.
func TestManifestsConnect(t *testing.T) {
	for _, r := range renderAll(t) {
		t.Run(r.dir, func(t *testing.T) {
			pod := podOf(t, r)
			dep := r.find(t, "Deployment", "skattekonto-worker")
			if !selects(t, get(dep, "spec", "selector"), pod.labels) {
				t.Error("the Deployment's selector does not select its own pods")
			}
			if rep := get(dep, "spec", "replicas"); rep != nil {
				t.Errorf("the Deployment sets replicas: %v; KEDA's ScaledObject owns them", rep)
			}
			for _, kind := range []string{"Service", "PodDisruptionBudget", "NetworkPolicy"} {
				for _, o := range r.all(kind) {
					sel := get(o, "spec", "podSelector")
					if kind == "Service" {
						sel = map[string]any{"matchLabels": get(o, "spec", "selector")}
					} else if kind == "PodDisruptionBudget" {
						sel = get(o, "spec", "selector")
					}
					if o.namespace() != pod.namespace || !selects(t, sel, pod.labels) {
						t.Errorf("%s %s does not select the worker's pods", kind, o.name())
					}
				}
			}
			for _, svc := range r.all("Service") {
				for _, port := range list(get(svc, "spec", "ports")) {
					if target := str(get(port, "targetPort")); pod.ports[target] == 0 {
						t.Errorf("Service %s port %v targets %q, not a port of the worker container", svc.name(), get(port, "port"), target)
					}
				}
			}
			for variable, port := range map[string]string{"HTTP_ADDR": "http", "LOGIN_ADDR": "login"} {
				if got := addrPort(pod.env[variable]); got != strconv.Itoa(pod.ports[port]) {
					t.Errorf("%s=%q, but the container port %s is %d", variable, pod.env[variable], port, pod.ports[port])
				}
			}
			if key := pod.env["NATS_NKEY"]; pod.secretDir[path.Dir(key)] == "" {
				t.Errorf("NATS_NKEY=%q is not in a mounted Secret (%v)", key, pod.secretDir)
			}

			so := r.find(t, "ScaledObject", "skattekonto-worker")
			if got := str(get(so, "spec", "scaleTargetRef", "name")); got != dep.name() {
				t.Errorf("ScaledObject scales %q", got)
			}
			if min, _ := get(so, "spec", "minReplicaCount").(int); min < 2 {
				t.Errorf("ScaledObject minReplicaCount %d, want at least 2", min)
			}
			pdbMin, _ := get(r.find(t, "PodDisruptionBudget", "skattekonto-worker"), "spec", "minAvailable").(int)
			if min, _ := get(so, "spec", "minReplicaCount").(int); pdbMin >= min {
				t.Errorf("PodDisruptionBudget minAvailable %d would block node drains at minReplicaCount %d", pdbMin, min)
			}
			// KEDA watches every partition's consumer, each once, and
			// scales no further than there are partitions.
			watched := map[string]int{}
			for _, trig := range list(get(so, "spec", "triggers")) {
				md := labels(get(trig, "metadata"))
				if md["stream"] != contract.FetchStream {
					t.Errorf("KEDA watches stream %s, not %s", md["stream"], contract.FetchStream)
				}
				watched[md["consumer"]]++
			}
			for p := range contract.DefaultPartitions {
				name := contract.PartitionConsumer(contract.Durable, p)
				if watched[name] != 1 {
					t.Errorf("KEDA watches the consumer %s %d times, want once", name, watched[name])
				}
				delete(watched, name)
			}
			for name := range watched {
				t.Errorf("KEDA watches %s, not a partition's consumer", name)
			}
			if max, _ := get(so, "spec", "maxReplicaCount").(int); max > contract.DefaultPartitions {
				t.Errorf("ScaledObject maxReplicaCount %d: more replicas than the %d partitions only stand by", max, contract.DefaultPartitions)
			}

			for _, sm := range r.all("ServiceMonitor") {
				var found bool
				for _, svc := range r.all("Service") {
					if !selects(t, get(sm, "spec", "selector"), labels(get(svc, "metadata", "labels"))) {
						continue
					}
					found = true
					var names []string
					for _, p := range list(get(svc, "spec", "ports")) {
						names = append(names, str(get(p, "name")))
					}
					if svc.name() != "skattekonto-worker" {
						t.Errorf("ServiceMonitor %s also selects Service %s", sm.name(), svc.name())
					}
					for _, ep := range list(get(sm, "spec", "endpoints")) {
						if !slices.Contains(names, str(get(ep, "port"))) {
							t.Errorf("ServiceMonitor %s scrapes port %q, Service %s has %v", sm.name(), get(ep, "port"), svc.name(), names)
						}
					}
				}
				if !found {
					t.Errorf("ServiceMonitor %s selects no Service", sm.name())
				}
			}
		})
	}
}

// exported returns the names of every metric the worker exports.
func exported(t *testing.T) map[string]bool {
	t.Helper()
	reg := prometheus.NewRegistry()
	m := metrics.New(reg)
	// Observe one of each, so that every labelled family shows.
	m.FetchDone("ok", time.Second)
	m.APICall("saldo", 200, 0, time.Second)
	m.Retry("saldo")
	m.EventsPublished("FetchCompleted", 1)
	m.DiffDuration(time.Millisecond)
	m.InFlight(1)
	m.TokenRefresh(true)
	m.RateLimitWait(time.Second)
	m.CommitConflict()
	m.WatchConsumer(func(context.Context) (uint64, uint64, error) { return 1, 1, nil })
	m.WatchCertificateExpiry(func() (time.Time, error) { return time.Now(), nil })
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, f := range families {
		names[f.GetName()] = true
		if f.GetType().String() == "HISTOGRAM" {
			for _, s := range []string{"_bucket", "_sum", "_count"} {
				names[f.GetName()+s] = true
			}
		}
	}
	return names
}

// TestAlertsUseExportedMetrics checks that every skattekonto_* metric the
// PrometheusRule's alerts read is one the worker exports, and that the
// rule ships with the monitoring component in an overlay.
func TestAlertsUseExportedMetrics(t *testing.T) {
	names := exported(t)
	metricName := regexp.MustCompile(`\bskattekonto_[a-z_]+`)
	var rules int
	for _, r := range renderAll(t) {
		for _, pr := range r.all("PrometheusRule") {
			for _, g := range list(get(pr, "spec", "groups")) {
				for _, rule := range list(get(g, "rules")) {
					rules++
					expr := str(get(rule, "expr"))
					for _, n := range metricName.FindAllString(expr, -1) {
						if !names[n] {
							t.Errorf("%s: alert %s reads %s, which the worker does not export", r.dir, get(rule, "alert"), n)
						}
					}
					if strings.TrimSpace(expr) == "" {
						t.Errorf("%s: alert %s has no expression", r.dir, get(rule, "alert"))
					}
				}
			}
		}
	}
	if rules == 0 {
		t.Error("no kustomization renders a PrometheusRule")
	}
}
