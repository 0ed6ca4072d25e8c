package k8s

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

// endpoint is a pod (namespace and labels) or an address outside the
// cluster, with a port and protocol: the far end of a connection.
type endpoint struct {
	what      string // for messages
	namespace string
	pod       map[string]string // nil: not a pod
	ip        string            // set for addresses outside the cluster
	port      int
	protocol  string
}

func pod(what, ns string, podLabels map[string]string, port int, protocol string) endpoint {
	return endpoint{what: what, namespace: ns, pod: podLabels, port: port, protocol: protocol}
}

func address(what, ip string, port int) endpoint {
	return endpoint{what: what, ip: ip, port: port, protocol: "TCP"}
}

// nsLabels are the labels Kubernetes gives every namespace.
func (e endpoint) nsLabels() map[string]string {
	return map[string]string{"kubernetes.io/metadata.name": e.namespace}
}

// selects implements a LabelSelector (matchLabels and matchExpressions);
// an absent selector selects nothing, an empty one everything.
func selects(t *testing.T, sel any, l map[string]string) bool {
	t.Helper()
	m, ok := sel.(map[string]any)
	if !ok {
		return false
	}
	for k, v := range labels(m["matchLabels"]) {
		if got, ok := l[k]; !ok || got != v {
			return false
		}
	}
	for _, e := range list(m["matchExpressions"]) {
		key, op := str(get(e, "key")), str(get(e, "operator"))
		var values []string
		for _, v := range list(get(e, "values")) {
			values = append(values, str(v))
		}
		v, has := l[key]
		switch op {
		case "In":
			if !has || !slices.Contains(values, v) {
				return false
			}
		case "NotIn":
			if has && slices.Contains(values, v) {
				return false
			}
		case "Exists":
			if !has {
				return false
			}
		case "DoesNotExist":
			if has {
				return false
			}
		default:
			t.Fatalf("selector operator %q", op)
		}
	}
	return true
}

// peerMatches implements a NetworkPolicyPeer for the far end e of a
// connection of a pod in namespace policyNS.
func peerMatches(t *testing.T, peer any, policyNS string, e endpoint) bool {
	t.Helper()
	if ipb := get(peer, "ipBlock"); ipb != nil {
		if e.ip == "" {
			return false // pods are matched by selectors here
		}
		addr := netip.MustParseAddr(e.ip)
		if !netip.MustParsePrefix(str(get(ipb, "cidr"))).Contains(addr) {
			return false
		}
		for _, ex := range list(get(ipb, "except")) {
			if netip.MustParsePrefix(str(ex)).Contains(addr) {
				return false
			}
		}
		return true
	}
	if e.pod == nil {
		return false
	}
	nsSel, podSel := get(peer, "namespaceSelector"), get(peer, "podSelector")
	if nsSel == nil && podSel == nil {
		t.Fatalf("a peer without selectors or ipBlock: %v", peer)
	}
	if nsSel == nil {
		if e.namespace != policyNS {
			return false
		}
	} else if !selects(t, nsSel, e.nsLabels()) {
		return false
	}
	return podSel == nil || selects(t, podSel, e.pod)
}

// portMatches implements a NetworkPolicyPort. Named ports are refused:
// the checks below compare numbers.
func portMatches(t *testing.T, p any, e endpoint) bool {
	t.Helper()
	proto := str(get(p, "protocol"))
	if proto == "" {
		proto = "TCP"
	}
	if proto != e.protocol {
		return false
	}
	port := get(p, "port")
	if port == nil {
		return true
	}
	n, ok := port.(int)
	if !ok {
		t.Fatalf("port %v: use numbers in NetworkPolicies (the meaning test compares them)", port)
	}
	if end, ok := get(p, "endPort").(int); ok {
		return n <= e.port && e.port <= end
	}
	return n == e.port
}

// ruleAllows implements one ingress or egress rule; peersKey is "from" or "to".
func ruleAllows(t *testing.T, rule any, peersKey, policyNS string, far endpoint) bool {
	t.Helper()
	peers, ports := list(get(rule, peersKey)), list(get(rule, "ports"))
	peerOK := len(peers) == 0
	for _, p := range peers {
		peerOK = peerOK || peerMatches(t, p, policyNS, far)
	}
	portOK := len(ports) == 0
	for _, p := range ports {
		portOK = portOK || portMatches(t, p, far)
	}
	return peerOK && portOK
}

// allowed tells whether the policies let a pod with podLabels in
// namespace ns reach far (egress) or be reached by it (ingress, far.port
// being the pod's port): Kubernetes' union of every policy that selects
// the pod for that direction.
func allowed(t *testing.T, policies []object, ns string, podLabels map[string]string, direction string, far endpoint) bool {
	t.Helper()
	peersKey := map[string]string{"Ingress": "from", "Egress": "to"}[direction]
	isolated := false
	for _, p := range policies {
		if p.namespace() != ns || !selects(t, get(p, "spec", "podSelector"), podLabels) {
			continue
		}
		types := list(get(p, "spec", "policyTypes"))
		if !slices.Contains(types, any(direction)) {
			continue
		}
		isolated = true
		for _, rule := range list(get(p, "spec", strings.ToLower(direction))) {
			if ruleAllows(t, rule, peersKey, ns, far) {
				return true
			}
		}
	}
	return !isolated
}

// The pods the official NATS Helm chart runs: its servers and its nats-box.
var (
	natsServer = map[string]string{
		"app.kubernetes.io/name": "nats", "app.kubernetes.io/instance": "nats",
		"app.kubernetes.io/component": "nats", "app.kubernetes.io/version": "2.14.2",
		"apps.kubernetes.io/pod-index": "0", "statefulset.kubernetes.io/pod-name": "nats-0",
	}
	natsBox = map[string]string{
		"app.kubernetes.io/name": "nats", "app.kubernetes.io/instance": "nats",
		"app.kubernetes.io/component": "nats-box",
	}
	kubeDNS       = map[string]string{"k8s-app": "kube-dns", "pod-template-hash": "5d78c9869d"}
	prometheusPod = map[string]string{"app.kubernetes.io/name": "prometheus"}
	ingress       = map[string]string{"app.kubernetes.io/name": "ingress-nginx"}
	stranger      = map[string]string{"app": "something-else"}
)

// apiAddress is an address in the NetworkPolicy's placeholder range for
// Skatteverket's API (an operator replaces the range).
const apiAddress = "192.0.2.10"

// TestNetworkPolicyMeaning renders every kustomization and checks what
// its NetworkPolicies let the worker's pods do: reach the NATS chart's
// servers on 4222, kube-dns in kube-system on 53, the API's range on 443
// and nothing else; be reached on 8080 (/metrics) from the monitoring
// namespace and on 8081 (the login page) from the ingress controller's,
// and by nothing else.
func TestNetworkPolicyMeaning(t *testing.T) {
	for _, r := range renderAll(t) {
		t.Run(r.dir, func(t *testing.T) {
			dep := r.find(t, "Deployment", "skattekonto-worker")
			ns, worker := dep.namespace(), labels(get(dep, "spec", "template", "metadata", "labels"))
			policies := r.all("NetworkPolicy")
			if len(policies) == 0 {
				t.Fatal("no NetworkPolicy")
			}
			egress := []struct {
				to   endpoint
				want bool
			}{
				{pod("a NATS server in namespace nats", "nats", natsServer, 4222, "TCP"), true},
				{pod("a NATS server beside the worker", ns, natsServer, 4222, "TCP"), true},
				{pod("kube-dns over UDP", "kube-system", kubeDNS, 53, "UDP"), true},
				{pod("kube-dns over TCP", "kube-system", kubeDNS, 53, "TCP"), true},
				{address("Skatteverket's API", apiAddress, 443), true},

				{pod("a NATS server's monitoring port", "nats", natsServer, 8222, "TCP"), false},
				{pod("a NATS server's cluster port", "nats", natsServer, 6222, "TCP"), false},
				{pod("a NATS server over UDP", "nats", natsServer, 4222, "UDP"), false},
				{pod("a NATS server in another namespace", "elsewhere", natsServer, 4222, "TCP"), false},
				{pod("the NATS chart's nats-box", "nats", natsBox, 4222, "TCP"), false},
				{pod("another worker on the NATS port", ns, worker, 4222, "TCP"), false},
				{pod("an unlabelled pod in namespace nats", "nats", stranger, 4222, "TCP"), false},
				{pod("a pod calling itself kube-dns elsewhere", "elsewhere", kubeDNS, 53, "UDP"), false},
				{pod("kube-dns on another port", "kube-system", kubeDNS, 80, "TCP"), false},
				{address("Skatteverket's range over plain HTTP", apiAddress, 80), false},
				{address("the internet over HTTPS", "203.0.113.7", 443), false},
				{address("the cluster's API server", "10.96.0.1", 443), false},
			}
			for _, c := range egress {
				if got := allowed(t, policies, ns, worker, "Egress", c.to); got != c.want {
					t.Errorf("worker → %s (%d/%s): allowed %v, want %v", c.to.what, c.to.port, c.to.protocol, got, c.want)
				}
			}
			ingress := []struct {
				from endpoint
				want bool
			}{
				{pod("Prometheus scraping /metrics", "monitoring", prometheusPod, 8080, "TCP"), true},
				{pod("the ingress controller to the login page", "ingress-nginx", ingress, 8081, "TCP"), true},

				{pod("Prometheus to the login page", "monitoring", prometheusPod, 8081, "TCP"), false},
				{pod("the ingress controller to /metrics", "ingress-nginx", ingress, 8080, "TCP"), false},
				{pod("a pod beside the worker to /metrics", ns, stranger, 8080, "TCP"), false},
				{pod("a pod beside the worker to the login page", ns, stranger, 8081, "TCP"), false},
				{pod("NATS to the worker", "nats", natsServer, 8080, "TCP"), false},
				{pod("Prometheus to the simulator's port", "monitoring", prometheusPod, 8090, "TCP"), false},
				{address("the internet to the login page", "203.0.113.7", 8081), false},
			}
			for _, c := range ingress {
				if got := allowed(t, policies, ns, worker, "Ingress", c.from); got != c.want {
					t.Errorf("%s → worker:%d/%s: allowed %v, want %v", c.from.what, c.from.port, c.from.protocol, got, c.want)
				}
			}
			for _, p := range policies {
				checkGrants(t, p)
			}
		})
	}
}

// grant is one documented kind of traffic: a port, and labels every peer
// given that port must require (so that the peer is at most that wide).
type grant struct {
	port      string // "4222/TCP"
	namespace string // required kubernetes.io/metadata.name, "" for the policy's own (or, for nats, also namespace nats)
	pod       map[string]string
	ipBlock   bool
}

var (
	egressGrants = []grant{
		{port: "4222/TCP", namespace: "nats", pod: map[string]string{"app.kubernetes.io/name": "nats", "app.kubernetes.io/component": "nats"}},
		{port: "4222/TCP", pod: map[string]string{"app.kubernetes.io/name": "nats", "app.kubernetes.io/component": "nats"}},
		{port: "53/UDP", namespace: "kube-system", pod: map[string]string{"k8s-app": "kube-dns"}},
		{port: "53/TCP", namespace: "kube-system", pod: map[string]string{"k8s-app": "kube-dns"}},
		{port: "443/TCP", ipBlock: true},
	}
	ingressGrants = []grant{
		{port: "8080/TCP", namespace: "monitoring"},
		{port: "8081/TCP", namespace: "ingress-nginx"},
	}
)

// checkGrants proves "nothing else": every peer and port a rule opens is
// one of the documented grants, at most as wide.
func checkGrants(t *testing.T, p object) {
	t.Helper()
	for direction, grants := range map[string][]grant{"egress": egressGrants, "ingress": ingressGrants} {
		peersKey := map[string]string{"egress": "to", "ingress": "from"}[direction]
		for i, rule := range list(get(p, "spec", direction)) {
			peers, ports := list(get(rule, peersKey)), list(get(rule, "ports"))
			if len(peers) == 0 || len(ports) == 0 {
				t.Errorf("%s rule %d opens every %s", direction, i, map[bool]string{true: "peer", false: "port"}[len(peers) == 0])
				continue
			}
			for _, port := range ports {
				proto := str(get(port, "protocol"))
				if proto == "" {
					proto = "TCP"
				}
				key := fmt.Sprintf("%v/%s", get(port, "port"), proto)
				if get(port, "endPort") != nil {
					t.Errorf("%s rule %d: a port range", direction, i)
				}
				for _, peer := range peers {
					if !slices.ContainsFunc(grants, func(g grant) bool { return g.port == key && g.covers(peer) }) {
						t.Errorf("%s rule %d opens %s to %v: not a documented grant", direction, i, key, peer)
					}
				}
			}
		}
	}
}

// covers tells whether peer is at most as wide as g.
func (g grant) covers(peer any) bool {
	if ipb := get(peer, "ipBlock"); ipb != nil {
		prefix, err := netip.ParsePrefix(str(get(ipb, "cidr")))
		return g.ipBlock && err == nil && prefix.Bits() > 0
	}
	if g.ipBlock {
		return false
	}
	nsSel := get(peer, "namespaceSelector")
	switch {
	case g.namespace == "" && nsSel != nil:
		return false
	case g.namespace != "" && labels(get(nsSel, "matchLabels"))["kubernetes.io/metadata.name"] != g.namespace:
		return false
	}
	podLabels := labels(get(peer, "podSelector", "matchLabels"))
	for k, v := range g.pod {
		if podLabels[k] != v {
			return false
		}
	}
	return true
}
