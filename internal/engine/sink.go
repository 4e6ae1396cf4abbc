package engine

import (
	"context"
	"sync"
	"time"

	"go.opentelemetry.io/collector/consumer/consumererror"

	"github.com/meshinsights/otelcol-insights/internal/findings"
)

// DeliverFunc hands a batch of findings to one destination. It must build its own
// fresh pdata from the values: the next consumer may keep what it is given.
type DeliverFunc func(ctx context.Context, batch []findings.Finding) error

// maxBatch bounds one delivery so a backlog goes out as several reasonable batches.
const maxBatch = 1000

type pendingFinding struct {
	seq     uint64
	finding findings.Finding
}

// Sink is one destination of findings (a logs pipeline's next consumer, or the
// collector's own log) with its own bounded queue and retry backoff.
type Sink struct {
	name       string
	deliver    DeliverFunc
	maxPending int
	minBackoff time.Duration
	maxBackoff time.Duration
	telemetry  Telemetry

	sendMu sync.Mutex // one delivery at a time

	mu          sync.Mutex // guards everything below
	pending     []pendingFinding
	nextSeq     uint64
	backoff     time.Duration
	nextAttempt time.Time
}

// Pending is the number of findings waiting for this sink.
func (s *Sink) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.pending)
}

// enqueue appends findings; past maxPending the oldest are dropped and counted.
func (s *Sink) enqueue(ctx context.Context, fs []findings.Finding) {
	if len(fs) == 0 {
		return
	}
	s.mu.Lock()
	for i := range fs {
		s.nextSeq++
		s.pending = append(s.pending, pendingFinding{seq: s.nextSeq, finding: fs[i]})
	}
	over := len(s.pending) - s.maxPending
	if over > 0 {
		clear(s.pending[:over])
		s.pending = s.pending[over:]
	}
	s.mu.Unlock()
	if over > 0 {
		s.telemetry.Dropped(ctx, DropPendingFull, over)
	}
}

// sendResult says what one delivery attempt did.
type sendResult int

const (
	sendIdle  sendResult = iota // nothing to send, or waiting for backoff
	sendDone                    // a batch went out (or was dropped as permanent)
	sendRetry                   // a retryable error: kept, backing off
)

// trySend delivers at most one batch. ignoreBackoff is for shutdown flushes.
func (s *Sink) trySend(ctx context.Context, now time.Time, ignoreBackoff bool) sendResult {
	s.sendMu.Lock()
	defer s.sendMu.Unlock()

	s.mu.Lock()
	if len(s.pending) == 0 || (!ignoreBackoff && now.Before(s.nextAttempt)) {
		s.mu.Unlock()
		return sendIdle
	}
	n := min(len(s.pending), maxBatch)
	batch := make([]findings.Finding, n)
	for i := range n {
		batch[i] = s.pending[i].finding
	}
	lastSeq := s.pending[n-1].seq
	s.mu.Unlock()

	err := s.deliver(ctx, batch)

	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil && !consumererror.IsPermanent(err) {
		if s.backoff == 0 {
			s.backoff = s.minBackoff
		} else {
			s.backoff = min(2*s.backoff, s.maxBackoff)
		}
		s.nextAttempt = now.Add(s.backoff)
		s.telemetry.Retried(ctx)
		return sendRetry
	}
	s.backoff = 0
	s.nextAttempt = time.Time{}
	// Remove what was sent; enqueue may have dropped some of it meanwhile.
	sent := 0
	for sent < len(s.pending) && s.pending[sent].seq <= lastSeq {
		sent++
	}
	clear(s.pending[:sent])
	s.pending = s.pending[sent:]
	if err != nil {
		s.telemetry.Dropped(ctx, DropPermanentError, len(batch))
		return sendDone
	}
	for i := range batch {
		s.telemetry.Emitted(ctx, &batch[i])
	}
	return sendDone
}

// drain sends until nothing is pending or ctx ends; what is left is dropped and counted.
func (s *Sink) drain(ctx context.Context, now func() time.Time) {
	for {
		switch s.trySend(ctx, now(), true) {
		case sendIdle:
			return
		case sendRetry:
			s.mu.Lock()
			wait := s.backoff
			s.mu.Unlock()
			select {
			case <-ctx.Done():
			case <-time.After(wait):
				continue
			}
		case sendDone:
			if ctx.Err() == nil {
				continue
			}
		}
		s.mu.Lock()
		left := len(s.pending)
		clear(s.pending)
		s.pending = nil
		s.mu.Unlock()
		if left > 0 {
			s.telemetry.Dropped(context.WithoutCancel(ctx), DropShutdown, left)
		}
		return
	}
}
