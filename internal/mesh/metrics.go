package mesh

import (
	"math"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// MetricKind is a metric this package reads.
type MetricKind uint8

const (
	MetricUnknown MetricKind = iota
	// Istio standard counters.
	MetricRequests             // istio_requests_total
	MetricRequestMessages      // istio_request_messages_total (gRPC streaming)
	MetricResponseMessages     // istio_response_messages_total
	MetricTCPConnectionsOpened // istio_tcp_connections_opened_total
	MetricTCPConnectionsClosed // istio_tcp_connections_closed_total
	MetricTCPSentBytes         // istio_tcp_sent_bytes_total
	MetricTCPReceivedBytes     // istio_tcp_received_bytes_total
	// Istio standard histograms: the observation's value is the delta of the point's count.
	MetricRequestDuration // istio_request_duration_milliseconds
	MetricRequestBytes    // istio_request_bytes
	MetricResponseBytes   // istio_response_bytes
	// kubeletstats.
	MetricPodNetworkIO // k8s.pod.network.io
	// Envoy RBAC filter stats (exported only when the mesh's stats inclusion names them):
	// envoy_http_rbac_denied{http_conn_manager_prefix=...}, Istio's untagged
	// envoy_http_inbound_0_0_0_0_8080_rbac_denied, the network filter's envoy_rbac_denied
	// ... . Shadow (dry-run) denials are not denials.
	MetricRBACDenied
	metricKindCount
)

var metricKindNames = [...]string{
	MetricUnknown:              "unknown",
	MetricRequests:             "requests",
	MetricRequestMessages:      "request_messages",
	MetricResponseMessages:     "response_messages",
	MetricTCPConnectionsOpened: "tcp_connections_opened",
	MetricTCPConnectionsClosed: "tcp_connections_closed",
	MetricTCPSentBytes:         "tcp_sent_bytes",
	MetricTCPReceivedBytes:     "tcp_received_bytes",
	MetricRequestDuration:      "request_duration",
	MetricRequestBytes:         "request_bytes",
	MetricResponseBytes:        "response_bytes",
	MetricPodNetworkIO:         "pod_network_io",
	MetricRBACDenied:           "rbac_denied",
}

func (k MetricKind) String() string {
	if int(k) < len(metricKindNames) {
		return metricKindNames[k]
	}
	return "unknown"
}

// MetricKinds is a set of MetricKind.
type MetricKinds uint32

// KindsOf returns the set of the given kinds.
func KindsOf(kinds ...MetricKind) MetricKinds {
	var s MetricKinds
	for _, k := range kinds {
		s |= 1 << k
	}
	return s
}

// Has reports whether k is in the set.
func (s MetricKinds) Has(k MetricKind) bool { return k != MetricUnknown && s&(1<<k) != 0 }

// DefaultMetricKinds are the Istio counters and the pod network counter. The histograms
// repeat istio_requests_total's count under the same labels (three times over), so reading
// them by default would only triple the delta tracker's series.
var DefaultMetricKinds = KindsOf(MetricRequests, MetricRequestMessages, MetricResponseMessages,
	MetricTCPConnectionsOpened, MetricTCPConnectionsClosed, MetricTCPSentBytes,
	MetricTCPReceivedBytes, MetricPodNetworkIO, MetricRBACDenied)

// AllMetricKinds is every kind, histograms included.
var AllMetricKinds = MetricKinds(1<<metricKindCount - 2)

// metricNames are the base names, `_` for every separator and without `_total`. Variants
// with `_bytes`/`_milliseconds` trimmed cover trim_metric_suffixes with unit metadata.
var metricNames = [...]struct {
	base string
	kind MetricKind
}{
	{"istio_requests", MetricRequests},
	{"istio_request_messages", MetricRequestMessages},
	{"istio_response_messages", MetricResponseMessages},
	{"istio_tcp_connections_opened", MetricTCPConnectionsOpened},
	{"istio_tcp_connections_closed", MetricTCPConnectionsClosed},
	{"istio_tcp_sent_bytes", MetricTCPSentBytes},
	{"istio_tcp_sent", MetricTCPSentBytes},
	{"istio_tcp_received_bytes", MetricTCPReceivedBytes},
	{"istio_tcp_received", MetricTCPReceivedBytes},
	{"istio_request_duration_milliseconds", MetricRequestDuration},
	{"istio_request_duration", MetricRequestDuration},
	{"istio_request_bytes", MetricRequestBytes},
	{"istio_response_bytes", MetricResponseBytes},
	{"k8s_pod_network_io", MetricPodNetworkIO},
	{"k8s_pod_network_io_bytes", MetricPodNetworkIO},
}

// MetricKindOf recognises a metric name: with or without `_total` (trim_metric_suffixes),
// with `.` instead of `_` (OTLP-native renames such as `istio.requests`). It does not
// allocate.
func MetricKindOf(name string) MetricKind {
	if len(name) < 5 || (name[0] != 'i' && name[0] != 'k' && name[0] != 'e') {
		return MetricUnknown
	}
	if n := len(name) - len("_total"); n > 0 && (name[n] == '_' || name[n] == '.') && name[n+1:] == "total" {
		name = name[:n]
	}
	if name[0] == 'e' {
		return envoyMetricKind(name)
	}
	for i := range metricNames {
		if sepEqual(name, metricNames[i].base) {
			return metricNames[i].kind
		}
	}
	return MetricUnknown
}

// envoyMetricKind recognises the Envoy stats this package reads: a name under envoy that
// ends in rbac_denied (with `_` or `.`), whatever the stat prefix between.
func envoyMetricKind(name string) MetricKind {
	const suffix = "rbac_denied"
	n := len(name) - len(suffix)
	if n < len("envoy_") || !sepEqual(name[:len("envoy_")], "envoy_") || !sepEqual(name[n:], suffix) {
		return MetricUnknown
	}
	if c := name[n-1]; c != '_' && c != '.' {
		return MetricUnknown // e.g. ..._xrbac_denied is not the RBAC filter's stat
	}
	return MetricRBACDenied
}

// sepEqual compares a metric name with a base name in which `_` also matches `.`.
func sepEqual(name, base string) bool {
	if len(name) != len(base) {
		return false
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c != base[i] && !(c == '.' && base[i] == '_') {
			return false
		}
	}
	return true
}

// TrafficObservation is one point of an Istio standard metric that says something new: a
// first sighting of its series, or a non-zero delta. Absent labels are "".
type TrafficObservation struct {
	Metric MetricKind
	// Value is the delta since the series' previous point: 0 for a first sighting, the new
	// value after a counter reset, the point itself for delta temporality. For histograms it
	// counts requests (the delta of the point's count).
	Value float64
	// Bytes is, for istio_request_bytes and istio_response_bytes, the growth of the
	// histogram's sum since the series' previous point (on a first sighting, like Total,
	// the whole sum): bytes, where Value counts requests.
	Bytes float64
	// Total is the point's own value (the cumulative total for cumulative series).
	Total float64
	// Sighting tells a first sighting (DeltaBaseline: the series exists, but how much of
	// Total is recent is unknown) from growth (DeltaContinued, DeltaReset).
	Sighting  DeltaResult
	Timestamp time.Time
	Series    SeriesID

	Reporter string // source, destination, waypoint

	SourceWorkload, SourceNamespace, SourcePrincipal, SourceApp, SourceVersion string
	SourceCanonicalService, SourceCanonicalRevision, SourceCluster             string

	DestinationWorkload, DestinationNamespace, DestinationPrincipal, DestinationApp string
	DestinationVersion, DestinationService, DestinationServiceName                  string
	DestinationServiceNamespace, DestinationCanonicalService                        string
	DestinationCanonicalRevision, DestinationCluster                                string
	// DestinationClass is ClassifyCluster(DestinationServiceName): PassthroughCluster,
	// BlackHoleCluster, InboundPassthroughCluster* are classes, a service name is
	// ClusterOther.
	DestinationClass ClusterClass

	ConnectionSecurityPolicy, RequestProtocol, ResponseCode, ResponseFlags, GRPCResponseStatus string

	// From resource attributes (prometheus receiver + Kubernetes service discovery, or
	// k8sattributes).
	PodName, PodNamespace, PodUID, ServiceInstanceID string
}

// PodNetworkObservation is one kubeletstats k8s.pod.network.io point that says something
// new (same rules as TrafficObservation).
type PodNetworkObservation struct {
	Value     float64 // bytes since the previous point (see TrafficObservation.Value)
	Total     float64
	Sighting  DeltaResult
	Timestamp time.Time
	Series    SeriesID

	Transmit  bool   // direction=transmit (false: receive)
	Direction string // the attribute as sent
	Interface string

	PodName, PodNamespace, PodUID string
}

// MetricsReader reads Istio standard metrics and pod network counters out of pmetric.Metrics.
// Its fields are configuration; Read is safe for concurrent use if the callbacks are.
type MetricsReader struct {
	// Deltas turns cumulative points into deltas. Required.
	Deltas *DeltaTracker
	// Kinds selects the metrics to read; zero means DefaultMetricKinds.
	Kinds MetricKinds
	// Now is the clock for the tracker's TTL, read once per Read; nil means time.Now.
	Now func() time.Time
	// Wants, when set, is asked about every Istio point once its labels are read and
	// before its series is hashed and tracked: a point no rule wants costs the label read
	// only. Value, Total, Sighting and Series are not set yet when it is asked.
	Wants func(*TrafficObservation) bool
}

// ReadMetrics reads the Istio standard metrics in md (DefaultMetricKinds) and emits each
// point that says something new. The observation is reused: copy what you keep.
func ReadMetrics(md pmetric.Metrics, dt *DeltaTracker, emit func(*TrafficObservation)) {
	r := MetricsReader{Deltas: dt}
	r.Read(md, emit, nil)
}

// ReadPodNetwork reads kubeletstats k8s.pod.network.io points in md.
func ReadPodNetwork(md pmetric.Metrics, dt *DeltaTracker, emit func(*PodNetworkObservation)) {
	r := MetricsReader{Deltas: dt}
	r.Read(md, nil, emit)
}

// Read walks md once, emitting Istio traffic points to traffic and pod network points to
// podNet (either may be nil to skip them). Points that add nothing (a known series that did
// not grow, a duplicate, a staleness marker) are not emitted. Observations are reused
// between calls of the callback: copy what you keep (see the package doc on strings).
func (r *MetricsReader) Read(md pmetric.Metrics, traffic func(*TrafficObservation), podNet func(*PodNetworkObservation)) {
	kinds := r.Kinds
	if kinds == 0 {
		kinds = DefaultMetricKinds
	}
	if traffic == nil {
		kinds &^= AllMetricKinds &^ KindsOf(MetricPodNetworkIO)
	}
	if podNet == nil {
		kinds &^= KindsOf(MetricPodNetworkIO)
	}
	if kinds == 0 {
		return
	}
	now := time.Now
	if r.Now != nil {
		now = r.Now
	}
	rd := metricsRead{dt: r.Deltas, now: now(), traffic: traffic, podNet: podNet, wants: r.Wants}

	rms := md.ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		rm := rms.At(i)
		rd.resource(rm.Resource().Attributes())
		sms := rm.ScopeMetrics()
		for j := 0; j < sms.Len(); j++ {
			ms := sms.At(j).Metrics()
			for k := 0; k < ms.Len(); k++ {
				m := ms.At(k)
				kind := MetricKindOf(m.Name())
				if !kinds.Has(kind) {
					continue
				}
				rd.metric(m, kind)
			}
		}
	}
}

// metricsRead is one Read call's state; its observations are allocated once per call.
type metricsRead struct {
	dt      *DeltaTracker
	now     time.Time
	wants   func(*TrafficObservation) bool
	traffic func(*TrafficObservation)
	podNet  func(*PodNetworkObservation)

	podName, podNamespace, podUID, instance string
	resHash                                 uint64
	// sum is the current histogram point's sum, read when hasSum (byte histograms).
	sum    float64
	hasSum bool

	t TrafficObservation
	p PodNetworkObservation
	// attrs are the current point's attributes as trafficLabels read them.
	attrs  [maxIndexedLabels]pointAttr
	nAttrs int
}

func (rd *metricsRead) resource(attrs pcommon.Map) {
	rd.podName, rd.podNamespace, rd.podUID, rd.instance = "", "", "", ""
	var job string
	for k, v := range attrs.All() {
		switch k {
		case "k8s.pod.name":
			rd.podName = v.Str()
		case "k8s.namespace.name":
			rd.podNamespace = v.Str()
		case "k8s.pod.uid":
			rd.podUID = v.Str()
		case "service.instance.id":
			rd.instance = v.Str()
		case "service.name":
			job = v.Str()
		}
	}
	// A series belongs to one pod (uid) scraped by one job from one endpoint: that is stable
	// while other resource attributes (labels added by k8sattributes) may change. Without
	// any of the three, the whole resource is the identity.
	if rd.podUID != "" || rd.instance != "" || job != "" {
		rd.resHash = mix64(strHash(rd.podUID)) + mix64(strHash(rd.instance)^1) + mix64(strHash(job)^2)
	} else {
		rd.resHash = mapHash(attrs)
	}
}

func (rd *metricsRead) metric(m pmetric.Metric, kind MetricKind) {
	base := mix64(strHash(m.Name()) ^ rd.resHash*0x9e3779b97f4a7c15)
	switch m.Type() {
	case pmetric.MetricTypeSum:
		sum := m.Sum()
		cumulative := sum.AggregationTemporality() != pmetric.AggregationTemporalityDelta
		dps := sum.DataPoints()
		for i := 0; i < dps.Len(); i++ {
			dp := dps.At(i)
			if dp.Flags().NoRecordedValue() {
				continue
			}
			var v float64
			switch dp.ValueType() {
			case pmetric.NumberDataPointValueTypeInt:
				v = float64(dp.IntValue())
			case pmetric.NumberDataPointValueTypeDouble:
				v = dp.DoubleValue()
			default:
				continue
			}
			rd.point(kind, base, dp.Attributes(), uint64(dp.StartTimestamp()), uint64(dp.Timestamp()), v, cumulative)
		}
	case pmetric.MetricTypeHistogram:
		h := m.Histogram()
		cumulative := h.AggregationTemporality() != pmetric.AggregationTemporalityDelta
		dps := h.DataPoints()
		for i := 0; i < dps.Len(); i++ {
			dp := dps.At(i)
			if dp.Flags().NoRecordedValue() {
				continue
			}
			rd.sum, rd.hasSum = dp.Sum(), dp.HasSum() && (kind == MetricRequestBytes || kind == MetricResponseBytes)
			rd.point(kind, base, dp.Attributes(), uint64(dp.StartTimestamp()), uint64(dp.Timestamp()), float64(dp.Count()), cumulative)
		}
		rd.hasSum = false
	}
}

func (rd *metricsRead) point(kind MetricKind, base uint64, attrs pcommon.Map, start, ts uint64, v float64, cumulative bool) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return
	}
	var attrHash uint64
	if kind == MetricPodNetworkIO {
		attrHash = rd.podNetAttrs(attrs)
	} else {
		rd.trafficLabels(attrs)
		t := &rd.t
		if rd.wants != nil {
			t.Metric = kind
			t.DestinationClass = ClassifyCluster(t.DestinationServiceName)
			t.PodName, t.PodNamespace, t.PodUID, t.ServiceInstanceID = rd.podName, rd.podNamespace, rd.podUID, rd.instance
			t.Timestamp = time.Unix(0, int64(ts)).UTC()
			if !rd.wants(t) {
				return
			}
		}
		attrHash = rd.trafficAttrsHash(attrs)
	}
	id := SeriesID(mix64(base ^ attrHash))

	delta, res := v, DeltaContinued
	if cumulative {
		delta, res = rd.dt.Cumulative(id, start, ts, v, rd.now)
	} else {
		rd.dt.countRaw()
	}
	var bytes float64
	if rd.hasSum {
		bytes = rd.sumDelta(id, start, ts, cumulative) // tracked in step with the count
	}
	if res == DeltaStale || (res == DeltaContinued && delta == 0) {
		return
	}
	tsTime := time.Unix(0, int64(ts)).UTC()
	if kind == MetricPodNetworkIO {
		p := &rd.p
		p.Value, p.Total, p.Sighting, p.Timestamp, p.Series = delta, v, res, tsTime, id
		p.PodName, p.PodNamespace, p.PodUID = rd.podName, rd.podNamespace, rd.podUID
		rd.podNet(p)
		return
	}
	t := &rd.t
	t.Metric = kind
	t.Value, t.Total, t.Sighting, t.Timestamp, t.Series = delta, v, res, tsTime, id
	t.Bytes = bytes
	t.DestinationClass = ClassifyCluster(t.DestinationServiceName)
	t.PodName, t.PodNamespace, t.PodUID, t.ServiceInstanceID = rd.podName, rd.podNamespace, rd.podUID, rd.instance
	rd.traffic(t)
}

// trafficLabels are the Istio standard labels; trafficLabelHashes their strHash, so that a
// point's known keys need not be hashed again (the switch in trafficField already names them).
var trafficLabels = [...]string{
	"reporter",
	"source_workload", "source_workload_namespace", "source_principal", "source_app", "source_version",
	"source_canonical_service", "source_canonical_revision", "source_cluster",
	"destination_workload", "destination_workload_namespace", "destination_principal", "destination_app",
	"destination_version", "destination_service", "destination_service_name", "destination_service_namespace",
	"destination_canonical_service", "destination_canonical_revision", "destination_cluster",
	"connection_security_policy", "request_protocol", "response_code", "response_flags", "grpc_response_status",
}

var trafficLabelHashes = func() (h [len(trafficLabels)]uint64) {
	for i, k := range trafficLabels {
		h[i] = strHash(k)
	}
	return h
}()

// trafficField returns where label k goes and its index in trafficLabels; nil, -1 for a
// label Istio does not define.
func (t *TrafficObservation) trafficField(k string) (*string, int) {
	switch k {
	case "reporter":
		return &t.Reporter, 0
	case "source_workload":
		return &t.SourceWorkload, 1
	case "source_workload_namespace":
		return &t.SourceNamespace, 2
	case "source_principal":
		return &t.SourcePrincipal, 3
	case "source_app":
		return &t.SourceApp, 4
	case "source_version":
		return &t.SourceVersion, 5
	case "source_canonical_service":
		return &t.SourceCanonicalService, 6
	case "source_canonical_revision":
		return &t.SourceCanonicalRevision, 7
	case "source_cluster":
		return &t.SourceCluster, 8
	case "destination_workload":
		return &t.DestinationWorkload, 9
	case "destination_workload_namespace":
		return &t.DestinationNamespace, 10
	case "destination_principal":
		return &t.DestinationPrincipal, 11
	case "destination_app":
		return &t.DestinationApp, 12
	case "destination_version":
		return &t.DestinationVersion, 13
	case "destination_service":
		return &t.DestinationService, 14
	case "destination_service_name":
		return &t.DestinationServiceName, 15
	case "destination_service_namespace":
		return &t.DestinationServiceNamespace, 16
	case "destination_canonical_service":
		return &t.DestinationCanonicalService, 17
	case "destination_canonical_revision":
		return &t.DestinationCanonicalRevision, 18
	case "destination_cluster":
		return &t.DestinationCluster, 19
	case "connection_security_policy":
		return &t.ConnectionSecurityPolicy, 20
	case "request_protocol":
		return &t.RequestProtocol, 21
	case "response_code":
		return &t.ResponseCode, 22
	case "response_flags":
		return &t.ResponseFlags, 23
	case "grpc_response_status":
		return &t.GRPCResponseStatus, 24
	}
	return nil, -1
}

// maxIndexedLabels is how many of a point's attributes trafficLabels keeps for
// trafficAttrsHash; a point with more is hashed from its map again.
const maxIndexedLabels = 48

// pointAttr is one attribute as trafficLabels met it: enough to hash it without going back
// to the map (strings alias pdata, valid until the point is done).
type pointAttr struct {
	key   string
	value string // the string value; for other types, hash holds the value's hash
	label int8   // index in trafficLabels, -1 when not an Istio label
	other bool   // not a string value
	hash  uint64
}

// trafficLabels resets the observation and reads the Istio labels of a point, keeping
// every attribute for trafficAttrsHash: one walk of the map serves both.
func (rd *metricsRead) trafficLabels(attrs pcommon.Map) {
	t := &rd.t
	*t = TrafficObservation{}
	n := 0
	for k, v := range attrs.All() {
		dst, i := t.trafficField(k)
		// Str is "" for other types: only then is the type worth asking (labels are strings).
		str := v.Str()
		other := str == "" && v.Type() != pcommon.ValueTypeStr
		if n < len(rd.attrs) {
			a := &rd.attrs[n]
			a.key, a.value, a.label, a.other = k, str, int8(i), other
			if other {
				a.hash = valueHash(v)
			}
		}
		n++
		if dst == nil {
			continue
		}
		if other {
			*dst = attrString(v)
		} else {
			*dst = str
		}
	}
	rd.nAttrs = n
}

// trafficAttrsHash hashes every attribute of the point trafficLabels read (its series
// identity); the sum makes it independent of attribute order.
func (rd *metricsRead) trafficAttrsHash(attrs pcommon.Map) uint64 {
	if rd.nAttrs > len(rd.attrs) {
		return mapHash(attrs)
	}
	var sum uint64
	for i := range rd.nAttrs {
		a := &rd.attrs[i]
		var kh, vh uint64
		if a.label >= 0 {
			kh = trafficLabelHashes[a.label]
		} else {
			kh = strHash(a.key)
		}
		if a.other {
			vh = a.hash
		} else {
			vh = strHash(a.value)
		}
		sum += pairHash(kh, vh)
	}
	return sum
}

func (rd *metricsRead) podNetAttrs(attrs pcommon.Map) uint64 {
	p := &rd.p
	*p = PodNetworkObservation{}
	var sum uint64
	for k, v := range attrs.All() {
		sum += pairHash(strHash(k), valueHash(v))
		switch k {
		case "direction":
			p.Direction = v.Str()
			p.Transmit = strings.EqualFold(p.Direction, "transmit")
		case "interface":
			p.Interface = v.Str()
		}
	}
	return sum
}
