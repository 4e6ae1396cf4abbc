package findings

import (
	"slices"
	"time"
)

// Defaults applied when a TrackerConfig bound is zero.
const (
	DefaultMaxActive            = 10000
	DefaultMaxSourcesPerFinding = 1000
)

// maxPodNames caps insight.evidence.pods; insight.evidence.pod_count keeps the true number.
const maxPodNames = 50

// evidencePodCount is the evidence name for the number of distinct affected pods.
const evidencePodCount = "pod_count"

// TrackerConfig bounds a Tracker and sets its re-emission pace.
type TrackerConfig struct {
	// ReemitInterval is how often an active finding is emitted again as ongoing; zero
	// means never.
	ReemitInterval time.Duration
	// MaxActive bounds the fingerprints held (supported ones and those whose resolved
	// record is still due); zero means DefaultMaxActive.
	MaxActive int
	// MaxSourcesPerFinding bounds the sources supporting one fingerprint; zero means
	// DefaultMaxSourcesPerFinding.
	MaxSourcesPerFinding int
}

// Tracker turns repeated reports of current findings into a lifecycle: open once, ongoing
// every ReemitInterval while some source supports the finding, resolved once when none does.
//
// A Tracker is not safe for concurrent use: the caller serialises Report and Due (the
// engine does so under its own lock).
type Tracker struct {
	cfg TrackerConfig
	// tracked holds every fingerprint that is supported or still owes its resolved record.
	tracked map[string]*trackedFinding
	// supports lists, per source, the fingerprints its last report supports.
	supports map[string][]string
	// seq orders reports, so "most recent source" does not depend on clock resolution.
	seq uint64
}

type trackedFinding struct {
	sources     map[string]sourceReport
	firstSeen   time.Time
	lastSeen    time.Time
	occurrences int64
	opened      bool      // the open record has been emitted
	lastEmitted time.Time // when the last open or ongoing record was emitted
	// final is what the resolved record says, captured as the last source withdrew.
	final *Finding
}

type sourceReport struct {
	finding Finding
	seq     uint64
}

// NewTracker returns an empty Tracker; zero bounds in cfg take their defaults.
func NewTracker(cfg TrackerConfig) *Tracker {
	if cfg.MaxActive <= 0 {
		cfg.MaxActive = DefaultMaxActive
	}
	if cfg.MaxSourcesPerFinding <= 0 {
		cfg.MaxSourcesPerFinding = DefaultMaxSourcesPerFinding
	}
	return &Tracker{
		cfg:      cfg,
		tracked:  make(map[string]*trackedFinding),
		supports: make(map[string][]string),
	}
}

// Report replaces the set of findings that one source (an opaque key, e.g. "pod/ns/name")
// currently supports; reporting nil or an empty slice withdraws the source's support.
// It returns how many findings were dropped because a bound was reached. The tracker keeps
// the findings' slices, so the caller must not modify them afterwards.
func (t *Tracker) Report(source string, fs []Finding, now time.Time) (dropped int) {
	t.seq++
	previous := t.supports[source]
	current := make([]string, 0, len(fs))

	for i := range fs {
		f := fs[i]
		fp := f.Fingerprint()
		tf, ok := t.tracked[fp]
		if !ok {
			if len(t.tracked) >= t.cfg.MaxActive {
				dropped++
				continue
			}
			tf = &trackedFinding{sources: make(map[string]sourceReport, 1), firstSeen: now}
			t.tracked[fp] = tf
		}
		if _, ok := tf.sources[source]; !ok && len(tf.sources) >= t.cfg.MaxSourcesPerFinding {
			dropped++
			continue
		}
		tf.sources[source] = sourceReport{finding: f, seq: t.seq}
		tf.lastSeen = now
		tf.occurrences += max(f.Count, 1)
		tf.final = nil // supported again before its resolved record went out: still active
		if !slices.Contains(current, fp) {
			current = append(current, fp)
		}
	}

	for _, fp := range previous {
		if !slices.Contains(current, fp) {
			t.withdraw(fp, source)
		}
	}
	if len(current) == 0 {
		delete(t.supports, source)
	} else {
		t.supports[source] = current
	}
	return dropped
}

// withdraw removes one source's support; the last one out leaves the resolved record due.
func (t *Tracker) withdraw(fp, source string) {
	tf, ok := t.tracked[fp]
	if !ok {
		return
	}
	if _, ok := tf.sources[source]; !ok {
		return
	}
	if len(tf.sources) == 1 {
		final := tf.aggregate()
		tf.final = &final
	}
	delete(tf.sources, source)
}

// Due returns, and marks as emitted, what must be emitted now, sorted by fingerprint: new
// fingerprints once as open; active ones as ongoing when ReemitInterval has passed since
// their last emission; unsupported ones once as resolved, after which they are forgotten.
// A fingerprint that came and went between two calls is returned as open, then resolved.
func (t *Tracker) Due(now time.Time) []Finding {
	due := make([]string, 0, len(t.tracked))
	for fp, tf := range t.tracked {
		switch {
		case !tf.opened, len(tf.sources) == 0:
			due = append(due, fp)
		case t.cfg.ReemitInterval > 0 && now.Sub(tf.lastEmitted) >= t.cfg.ReemitInterval:
			due = append(due, fp)
		}
	}
	slices.Sort(due)

	out := make([]Finding, 0, len(due))
	for _, fp := range due {
		tf := t.tracked[fp]
		if len(tf.sources) == 0 {
			if tf.final == nil { // cannot happen: withdraw captures it; never crash over it
				delete(t.tracked, fp)
				continue
			}
			if !tf.opened {
				out = append(out, tf.withState(*tf.final, StateOpen))
			}
			out = append(out, tf.withState(*tf.final, StateResolved))
			delete(t.tracked, fp)
			continue
		}
		state := StateOngoing
		if !tf.opened {
			state = StateOpen
			tf.opened = true
		}
		out = append(out, tf.withState(tf.aggregate(), state))
		tf.lastEmitted = now
	}
	return out
}

// Active is the number of fingerprints held: supported ones and those whose resolved
// record is still due. MaxActive bounds it.
func (t *Tracker) Active() int { return len(t.tracked) }

func (tf *trackedFinding) withState(f Finding, state State) Finding {
	f.State = state
	f.FirstSeen = tf.firstSeen
	f.LastSeen = tf.lastSeen
	f.Occurrences = tf.occurrences
	return f
}

// aggregate is the latest source's finding with the pods of every supporting source. It
// copies the slices it changes, so stored reports are never modified.
func (tf *trackedFinding) aggregate() Finding {
	var latest sourceReport
	pods := make([]string, 0, len(tf.sources))
	for _, r := range tf.sources {
		if r.seq > latest.seq {
			latest = r
		}
		if r.finding.PodName != "" {
			pods = append(pods, r.finding.PodName)
		}
		pods = append(pods, r.finding.Pods...)
	}
	slices.Sort(pods)
	pods = slices.Compact(pods)

	f := latest.finding
	if len(pods) == 0 {
		return f
	}
	podCount := len(pods)
	if len(pods) > maxPodNames {
		pods = pods[:maxPodNames:maxPodNames]
	}
	f.Pods = pods
	if podCount > 1 {
		f.Evidence = withEvidence(f.Evidence, IntEvidence(evidencePodCount, int64(podCount)))
	}
	return f
}

// withEvidence returns a copy of evidence with e replacing any value of the same name.
func withEvidence(evidence []EvidenceValue, e EvidenceValue) []EvidenceValue {
	out := make([]EvidenceValue, 0, len(evidence)+1)
	for _, v := range evidence {
		if v.Name != e.Name {
			out = append(out, v)
		}
	}
	return append(out, e)
}
