package proofing

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/proofline/proofline"
)

// Stats counts what the service saw, per kind. Snapshot it with Service.Stats.
type Stats struct {
	// One set of counters per kind, fixed at construction: counting never
	// takes a lock.
	byKind [3]kindStats
	obs    Observer
}

type kindStats struct {
	started, completed, late, duplicate, versionMismatch atomic.Int64
	totalWaitNanos                                       atomic.Int64
	rejected                                             sync.Map // reason → *atomic.Int64
}

// KindStats is a snapshot of one kind's counters.
type KindStats struct {
	Started   int64
	Completed int64
	// Late callbacks arrived after the deadline (410).
	Late int64
	// Duplicate callbacks arrived for a result already stored (409).
	Duplicate int64
	// VersionMismatch callbacks came from a worker build other than the pinned one.
	VersionMismatch int64
	// Rejected callbacks by reason: token, signature (the sealed body does
	// not open), unknown, malformed; and refused claims: claim_token,
	// claim_proof, claim_unknown, claim_malformed, claim_duplicate, claim_late.
	Rejected map[string]int64
	// MeanWait is the mean time from start to stored result.
	MeanWait time.Duration
}

// kind returns k's counters; callers only pass valid kinds.
func (s *Stats) kind(k proofline.Kind) *kindStats {
	switch k {
	case proofline.KindDocument:
		return &s.byKind[0]
	case proofline.KindResolution:
		return &s.byKind[1]
	}
	return &s.byKind[2]
}

func (s *Stats) started(k proofline.Kind) {
	s.kind(k).started.Add(1)
	if s.obs != nil {
		s.obs.JobStarted(k)
	}
}

func (s *Stats) late(k proofline.Kind) {
	s.kind(k).late.Add(1)
	if s.obs != nil {
		s.obs.CallbackRefused(k, "late")
	}
}

func (s *Stats) duplicate(k proofline.Kind) {
	s.kind(k).duplicate.Add(1)
	if s.obs != nil {
		s.obs.CallbackRefused(k, "duplicate")
	}
}

func (s *Stats) versionMismatch(k proofline.Kind) {
	s.kind(k).versionMismatch.Add(1)
	if s.obs != nil {
		s.obs.VersionMismatch(k)
	}
}

func (s *Stats) completed(k proofline.Kind, wait, budget time.Duration, r *proofline.Result) {
	ks := s.kind(k)
	ks.completed.Add(1)
	ks.totalWaitNanos.Add(int64(wait))
	if s.obs != nil {
		s.obs.ResultStored(k, wait, budget, r)
	}
}

func (s *Stats) rejected(k proofline.Kind, reason string) {
	v, _ := s.kind(k).rejected.LoadOrStore(reason, new(atomic.Int64))
	v.(*atomic.Int64).Add(1)
	if s.obs != nil {
		s.obs.CallbackRefused(k, reason)
	}
}

// Stats returns a snapshot of the counters of every kind.
func (s *Service) Stats() map[proofline.Kind]KindStats {
	out := map[proofline.Kind]KindStats{}
	for _, k := range proofline.Kinds {
		ks := s.stats.kind(k)
		snap := KindStats{
			Started: ks.started.Load(), Completed: ks.completed.Load(), Late: ks.late.Load(),
			Duplicate: ks.duplicate.Load(), VersionMismatch: ks.versionMismatch.Load(), Rejected: map[string]int64{},
		}
		if snap.Completed > 0 {
			snap.MeanWait = time.Duration(ks.totalWaitNanos.Load() / snap.Completed)
		}
		ks.rejected.Range(func(k, v any) bool {
			snap.Rejected[k.(string)] = v.(*atomic.Int64).Load()
			return true
		})
		out[k] = snap
	}
	return out
}
