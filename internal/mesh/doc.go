// Package mesh reads Istio and Envoy telemetry out of pdata into small plain-Go observation
// structs for the rules: Istio standard metrics and kubeletstats pod network counters
// (ReadMetrics, MetricsReader), Envoy spans (ReadSpans) and Envoy access logs in Istio's
// text, JSON and attribute forms (ReadAccessLogs, ParseAccessLogText). It is the only place
// besides the processor adapter that touches pdata, and it is on the hot path.
//
// Observations are handed to an emit callback and the struct is reused for the next item:
// a callback that keeps an observation must copy it.
//
// Strings in an observation are the pdata strings themselves, or substrings of them (the
// fields of a text or JSON access log are substrings of the record body). That is safe after
// the batch is released: Go strings are immutable, and pdata copies every string out of the
// protobuf buffer when it decodes (it never aliases the wire bytes). But a substring keeps its
// whole parent alive: a 12-byte client IP kept in a map pins the 400-byte log line it came
// from. So: anything kept beyond the emit call (map keys, finding evidence, inventories) must
// be copied with strings.Clone. Nothing is cloned here, because most observations are
// discarded by the rules and cloning would be the dominant cost.
package mesh
