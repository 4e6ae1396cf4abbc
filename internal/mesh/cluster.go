package mesh

import "strings"

// ClusterClass is what an Envoy cluster name (access logs `upstream_cluster`, span
// `upstream_cluster`) or an Istio `destination_service_name` label says about the traffic's
// direction. It is the one place that knows Istio's cluster naming.
type ClusterClass uint8

const (
	// ClusterUnknown: empty, "-" or "unknown".
	ClusterUnknown ClusterClass = iota
	// ClusterOther: any other name, e.g. a service name in `destination_service_name`, or a
	// cluster Istio did not generate.
	ClusterOther
	// ClusterInbound: a sidecar's inbound cluster, `inbound|<port>|<subset>|<host>`.
	ClusterInbound
	// ClusterOutbound: `outbound|<port>|<subset>|<host>`, or a gateway's SNI cluster
	// `outbound_.<port>_.<subset>_.<host>`.
	ClusterOutbound
	// ClusterPassthrough: `PassthroughCluster`, egress to a host the mesh does not know
	// (outboundTrafficPolicy ALLOW_ANY).
	ClusterPassthrough
	// ClusterBlackHole: `BlackHoleCluster`, egress the mesh blocked (REGISTRY_ONLY). HTTP
	// blocks are a direct 502 on route `block_all` with no cluster; access logs map that here
	// too.
	ClusterBlackHole
	// ClusterInboundPassthrough: `InboundPassthroughCluster` (Istio >= 1.23) or
	// `InboundPassthroughClusterIpv4`/`Ipv6`: inbound to a port no Service declares.
	ClusterInboundPassthrough
	// ClusterInboundVIP: an ambient waypoint's `inbound-vip|<port>|<proto>|<host>`.
	ClusterInboundVIP
)

var clusterClassNames = [...]string{
	ClusterUnknown:            "unknown",
	ClusterOther:              "other",
	ClusterInbound:            "inbound",
	ClusterOutbound:           "outbound",
	ClusterPassthrough:        "passthrough",
	ClusterBlackHole:          "blackhole",
	ClusterInboundPassthrough: "inbound_passthrough",
	ClusterInboundVIP:         "inbound_vip",
}

func (c ClusterClass) String() string {
	if int(c) < len(clusterClassNames) {
		return clusterClassNames[c]
	}
	return "unknown"
}

// Inbound reports whether traffic of this class arrives at the proxy's own workload.
func (c ClusterClass) Inbound() bool {
	return c == ClusterInbound || c == ClusterInboundPassthrough || c == ClusterInboundVIP
}

// Egress reports whether traffic of this class leaves the mesh for a host it does not know,
// allowed or blocked.
func (c ClusterClass) Egress() bool {
	return c == ClusterPassthrough || c == ClusterBlackHole
}

// ClassifyCluster names the class of an Envoy cluster name or an Istio
// destination_service_name. It does not allocate.
func ClassifyCluster(name string) ClusterClass {
	switch name {
	case "", "-", "unknown":
		return ClusterUnknown
	case "PassthroughCluster":
		return ClusterPassthrough
	case "BlackHoleCluster":
		return ClusterBlackHole
	case "InboundPassthroughCluster", "InboundPassthroughClusterIpv4", "InboundPassthroughClusterIpv6":
		return ClusterInboundPassthrough
	}
	switch {
	case strings.HasPrefix(name, "inbound|"):
		return ClusterInbound
	case strings.HasPrefix(name, "outbound|"), strings.HasPrefix(name, "outbound_."):
		return ClusterOutbound
	case strings.HasPrefix(name, "inbound-vip|"):
		return ClusterInboundVIP
	}
	return ClusterOther
}

// ParseCluster splits an Istio cluster name `<direction>|<port>|<subset>|<host>` (inbound,
// outbound, inbound-vip) into its parts. Other names return their class and empty parts.
// The parts are substrings of name.
func ParseCluster(name string) (class ClusterClass, port, subset, host string) {
	class = ClassifyCluster(name)
	if class != ClusterInbound && class != ClusterOutbound && class != ClusterInboundVIP {
		return class, "", "", ""
	}
	i := strings.IndexByte(name, '|')
	if i < 0 { // the SNI form outbound_.<port>_.<subset>_.<host>
		rest := name[len("outbound_."):]
		port, rest, _ = strings.Cut(rest, "_.")
		subset, host, _ = strings.Cut(rest, "_.")
		return class, port, subset, host
	}
	rest := name[i+1:]
	port, rest, _ = strings.Cut(rest, "|")
	subset, host, _ = strings.Cut(rest, "|")
	return class, port, subset, host
}

// NodeID is an Istio proxy's Envoy node ID,
// `<type>~<podIP>~<pod>.<namespace>~<namespace>.svc.cluster.local`.
type NodeID struct {
	ProxyType string // sidecar, router (gateways), waypoint, ...
	IP        string
	PodName   string
	Namespace string
	Domain    string // <namespace>.svc.<cluster domain>
}

// ParseNodeID parses an Istio node ID. ok is false unless it has four `~`-separated parts
// and a non-empty IP. The parts are substrings of s. A pod name may contain dots, a
// namespace cannot: the namespace is what follows the last dot of the third part.
func ParseNodeID(s string) (n NodeID, ok bool) {
	typ, rest, ok1 := strings.Cut(s, "~")
	ip, rest, ok2 := strings.Cut(rest, "~")
	id, domain, ok3 := strings.Cut(rest, "~")
	if !ok1 || !ok2 || !ok3 || ip == "" || typ == "" || strings.IndexByte(domain, '~') >= 0 {
		return NodeID{}, false
	}
	n = NodeID{ProxyType: typ, IP: ip, PodName: id, Domain: domain}
	if i := strings.LastIndexByte(id, '.'); i >= 0 {
		n.PodName, n.Namespace = id[:i], id[i+1:]
	}
	return n, true
}

// ProxyInboundIP and ProxyInboundIPv6 are the source addresses a sidecar uses towards its
// own application for inbound traffic (Istio's inbound passthrough bind addresses): seen as
// a client, it is the proxy itself.
const (
	ProxyInboundIP   = "127.0.0.6"
	ProxyInboundIPv6 = "::6"
)

// IsProxyInboundIP reports whether ip (without port) is the sidecar's own inbound address.
func IsProxyInboundIP(ip string) bool { return ip == ProxyInboundIP || ip == ProxyInboundIPv6 }

// SplitHostPort splits `ip:port`, `[v6]:port`, a bare IPv4 or IPv6 address, or "-" (empty)
// without allocating. Anything unrecognised is returned whole as the host.
func SplitHostPort(addr string) (host, port string) {
	if addr == "" || addr == "-" {
		return "", ""
	}
	if addr[0] == '[' {
		if i := strings.IndexByte(addr, ']'); i > 0 {
			host = addr[1:i]
			if i+1 < len(addr) && addr[i+1] == ':' {
				port = addr[i+2:]
			}
			return host, port
		}
		return addr, ""
	}
	i := strings.LastIndexByte(addr, ':')
	if i < 0 || strings.IndexByte(addr[:i], ':') >= 0 { // no port, or a bare IPv6 address
		return addr, ""
	}
	return addr[:i], addr[i+1:]
}

// dashEmpty maps Envoy's "-" (no value) to "".
func dashEmpty(s string) string {
	if s == "-" {
		return ""
	}
	return s
}
