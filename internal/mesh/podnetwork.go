package mesh

// What a pod sends, seen twice: the kubelet counts every byte that leaves the pod's network
// interface (kubeletstats k8s.pod.network.io, direction=transmit), the pod's sidecar counts
// what it proxied. Comparing the two is how unaccounted_egress finds traffic that went
// around the sidecar.

// EgressMetricKinds are the Istio metrics whose bytes a proxy sent out of its pod:
// istio_request_bytes and istio_response_bytes (histogram sums) and the two TCP byte
// counters. The histograms are not in DefaultMetricKinds: a reader that must see them
// adds these kinds.
var EgressMetricKinds = KindsOf(MetricRequestBytes, MetricResponseBytes, MetricTCPSentBytes, MetricTCPReceivedBytes)

// PodPrimaryInterface reports whether a kubeletstats interface attribute names the pod's
// own interface (eth0, the one the CNI plugin creates; the attribute absent means the
// same). Other interfaces (a Multus secondary network, tunnels inside the pod) are left
// out: the proxy does not see them either way.
func PodPrimaryInterface(iface string) bool { return iface == "" || iface == "eth0" }

// ProxyEgressBytes returns the bytes a point says the reporting proxy sent out of its own
// pod, and whether the point counts such bytes at all. Istio's TCP counters are named
// after the connection, not the reporter: istio_tcp_sent_bytes_total is what the server
// sent back (the response direction), istio_tcp_received_bytes_total what the client
// sent (the request direction), at both reporters. So a proxy sends out of its pod, as the
// client (reporter=source), the requests (request bytes, tcp received bytes) and, as the
// server (reporter=destination), the responses (response bytes, tcp sent bytes). Gateways
// and waypoints report no pod's own egress and are not asked about here.
func ProxyEgressBytes(o *TrafficObservation) (float64, bool) {
	switch o.Reporter {
	case "source":
		switch o.Metric {
		case MetricRequestBytes:
			return o.Bytes, true
		case MetricTCPReceivedBytes:
			return o.Value, true
		}
	case "destination":
		switch o.Metric {
		case MetricResponseBytes:
			return o.Bytes, true
		case MetricTCPSentBytes:
			return o.Value, true
		}
	}
	return 0, false
}

// sumSeriesSalt separates a histogram's sum from its count in the delta tracker.
const sumSeriesSalt = 0x5bd1e9955bd1e995

// sumDelta is the growth of the current histogram point's sum, tracked as its own series
// next to the count's (same start, time and TTL). A first sighting yields the whole sum
// (like Total, of unknown age), a duplicate 0.
func (rd *metricsRead) sumDelta(id SeriesID, start, ts uint64, cumulative bool) float64 {
	if !cumulative {
		return rd.sum
	}
	d, res := rd.dt.Cumulative(id^sumSeriesSalt, start, ts, rd.sum, rd.now)
	switch res {
	case DeltaContinued, DeltaReset:
		return max(d, 0)
	case DeltaBaseline:
		return rd.sum
	}
	return 0
}
