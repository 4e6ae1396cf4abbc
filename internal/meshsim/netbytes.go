package meshsim

import (
	"hash/fnv"
	"math/rand/v2"
)

// This file: the bytes kubeletstats counts on each pod's eth0 (k8s.pod.network.io). The
// kubelet counts every byte that leaves or enters the pod's network namespace; a pod's
// sidecar counts only what it proxied, at the HTTP or TCP payload level
// (istio_request_bytes, istio_response_bytes, istio_tcp_*_bytes_total). So a meshed pod
// transmits what its sidecar proxied, plus:
//
//   - framing: TCP/IP headers per segment and, over Istio mTLS, TLS records: a share of
//     the payload and a little per message; the mTLS handshake (certificate chains) per
//     new TCP connection; pure ACKs for what it receives.
//   - the proxy's own traffic, never in Istio's metrics: the merged metrics endpoint
//     answering Prometheus' scrape, xDS/SDS with istiod, DNS, health probe responses, access
//     log records and spans exported over OTLP.
//
// Each pod has its own profile (MTU, scrape size, probe set, telemetry volume), so the
// transmitted/proxied ratio differs from pod to pod and jitters from tick to tick: a fixed
// ratio does not describe the mesh. Traffic that skips the sidecar (a process running as
// UID 1337, an excluded CIDR) adds to the kubelet's counters only.
//
// The randomness here has its own source (Generator.netRng) and the profiles come from a
// hash of the pod's UID, so the request mix the other rules see does not depend on it.

// wireProfile is how one pod's traffic looks on its interface.
type wireProfile struct {
	// ratio: wire bytes per payload byte (TCP/IP and Ethernet headers per segment).
	ratio float64
	// perMsg: bytes per request or response beyond its payload (the segment that carries
	// it, HTTP/2 frame headers); tlsPerMsg more over mTLS (TLS record header and tag).
	perMsg, tlsPerMsg int64
	// ackShare: pure ACKs sent per byte received.
	ackShare float64
	// handshake: an mTLS handshake's bytes sent (certificate chain, key share, finished).
	handshake int64
	// scrape: the merged metrics endpoint's gzipped answer per Prometheus scrape (meshed
	// pods), plus scrapePerSeries per Istio series it holds.
	scrape, scrapePerSeries int64
	// control: per tick, xDS/SDS acks, DNS, health probe responses.
	control int64
	// perRecord: an access log record or span exported over OTLP.
	perRecord int64
}

func (g *Generator) profile(p *Pod) *wireProfile {
	if w, ok := g.wire[p]; ok {
		return w
	}
	h := fnv.New64a()
	_, _ = h.Write([]byte(p.UID))
	r := rand.New(rand.NewPCG(h.Sum64(), g.seed))
	mss := 1360 + r.IntN(100) // overlay MTUs
	w := &wireProfile{
		ratio:           1 + 66/float64(mss),
		perMsg:          int64(60 + r.IntN(120)),
		tlsPerMsg:       int64(22 + r.IntN(14)),
		ackShare:        66 / float64(2*mss),
		handshake:       int64(2600 + r.IntN(1600)),
		scrape:          int64(6<<10 + r.IntN(18<<10)),
		scrapePerSeries: int64(20 + r.IntN(40)),
		control:         int64(900 + r.IntN(2200)),
		perRecord:       int64(180 + r.IntN(260)),
	}
	g.wire[p] = w
	return w
}

// net is pod p's kubelet counters.
func (g *Generator) net(p *Pod) *podNet {
	n := g.netIO[p]
	if n == nil {
		n = &podNet{rx: 1 << 20, tx: 1 << 19}
		g.netIO[p] = n
	}
	return n
}

// exchange counts one request (or TCP connection) on pod p's interface: p sends out bytes
// and receives in bytes of payload; mtls: over Istio mTLS; newConn: a TCP connection opened
// for it (HTTP and gRPC reuse their connections).
func (g *Generator) exchange(p *Pod, out, in int64, mtls, newConn bool) {
	w, n := g.profile(p), g.net(p)
	tx := float64(out)*w.ratio + float64(w.perMsg) + float64(in)*w.ackShare
	rx := float64(in)*w.ratio + float64(w.perMsg) + float64(out)*w.ackShare
	if mtls {
		tx += float64(w.tlsPerMsg)
		rx += float64(w.tlsPerMsg)
	}
	if newConn {
		tx += 200 // SYN, ACK, FIN
		rx += 200
		if mtls {
			tx += float64(w.handshake)
			rx += 3000
		}
	}
	n.tx += int64(tx)
	n.rx += int64(rx)
}

// exported counts records (access logs, spans) pod p's proxy exports over OTLP.
func (g *Generator) exported(p *Pod, records int) {
	w, n := g.profile(p), g.net(p)
	n.tx += int64(records) * w.perRecord
	n.rx += int64(records) * 8 // the collector's acks, amortised
}

// podNoise adds one tick of pod p's own traffic around its application's: for a meshed
// pod, the scrape of its merged metrics endpoint and its control plane traffic.
func (g *Generator) podNoise(p *Pod, meshed bool, series int) {
	w, n := g.profile(p), g.net(p)
	jitter := func(v int64) int64 { return int64(float64(v) * (0.8 + 0.4*g.netRng.Float64())) }
	// DNS, kubelet probes, the container runtime: every pod.
	n.tx += jitter(400)
	n.rx += jitter(1500)
	if !meshed {
		return
	}
	n.tx += jitter(w.scrape+int64(series)*w.scrapePerSeries) + jitter(w.control)
	n.rx += jitter(600) + jitter(2*w.control) // the scrape's request, xDS pushes
}
