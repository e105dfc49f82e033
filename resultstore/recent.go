package resultstore

import (
	"context"
	"errors"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"

	"github.com/proofline/proofline"
)

// recent remembers, for each pending record this Store wrote, the sealed
// value it wrote (ciphertext only, as the driver holds it) and the
// record's public fields. It saves driver round trips, never correctness:
//
//   - LookupForUpdate opens the remembered value instead of reading it back,
//     for a caller that then changes the record by compare-and-swap
//     (Claim, Complete). The swap compares with the stored value; when the
//     record changed elsewhere in between (another server's claim or
//     callback, a delete), Claim and Complete read it and decide on what
//     is stored, exactly as after a fresh Lookup.
//   - PendingHere tells a long poll, without a read, that this Store has
//     the record pending as it last wrote it. A change made by another
//     server is seen at the long poll's next read.
//   - TenantHere tells a delete whose tenant the record belongs to, for a
//     record this Store created, claimed or completed. A record's tenant is
//     fixed when it is created (its id is random and never reused), so this
//     is never out of date; whether the record is still there is the
//     delete's to find out.
//
// A completed record is kept as its tenant only (done, no value), until the
// stored record expires. Other entries go when the record is deleted or
// found changed, and at its deadline: a lapsed entry is never used, and every entry past its
// deadline is removed at the next store call a second or more after the last
// sweep, so no copy of a pending value (which holds the sealed data key until
// the claim) outlives the record here. At most recentMax are kept (beyond
// that, callers read from the driver as without it).
type recent struct {
	seed      maphash.Seed
	shards    [recentShards]recentShard
	lastSweep atomic.Int64 // Unix nanoseconds
}

const (
	recentShards = 32
	// recentMax bounds the remembered records (about 0.5 KiB each).
	recentMax = 16384
)

type recentShard struct {
	mu sync.Mutex
	m  map[string]recentEntry
}

type recentEntry struct {
	raw         []byte // the sealed pending value as written; never modified; nil when done
	done        bool   // completed here: only tenant and deadline (the record's expiry) are set
	kind        proofline.Kind
	tenant      string
	requestedAt time.Time
	deadline    time.Time
}

func newRecent() *recent {
	r := &recent{seed: maphash.MakeSeed()}
	for i := range r.shards {
		r.shards[i].m = make(map[string]recentEntry)
	}
	return r
}

func (r *recent) shard(id string) *recentShard {
	return &r.shards[maphash.String(r.seed, id)%recentShards]
}

// sweep removes every entry past its deadline, at most once a second.
func (r *recent) sweep(now time.Time) {
	last := r.lastSweep.Load()
	if now.UnixNano()-last < int64(time.Second) || !r.lastSweep.CompareAndSwap(last, now.UnixNano()) {
		return
	}
	for i := range r.shards {
		s := &r.shards[i]
		s.mu.Lock()
		for k, e := range s.m {
			if !now.Before(e.deadline) {
				delete(s.m, k)
			}
		}
		s.mu.Unlock()
	}
}

// put remembers the sealed pending value raw of id (replacing any older one).
func (r *recent) put(id string, raw []byte, p *Pending, now time.Time) {
	r.sweep(now)
	s := r.shard(id)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[id]; !ok && len(s.m) >= recentMax/recentShards {
		for k, e := range s.m { // make room: drop what has lapsed
			if !now.Before(e.deadline) {
				delete(s.m, k)
			}
		}
		if len(s.m) >= recentMax/recentShards {
			return
		}
	}
	s.m[id] = recentEntry{raw: raw, kind: p.Kind, tenant: p.Tenant, requestedAt: p.RequestedAt, deadline: p.Deadline}
}

// putDone remembers that this Store completed id, of tenant, until the
// stored record expires. It replaces the pending entry and, unlike put,
// never takes room from one: with the map full it forgets id instead.
func (r *recent) putDone(id, tenant string, expires, now time.Time) {
	r.sweep(now)
	s := r.shard(id)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[id]; !ok && len(s.m) >= recentMax/recentShards {
		return
	}
	s.m[id] = recentEntry{done: true, tenant: tenant, deadline: expires}
}

// pending is get for an entry this Store holds pending: never a done one.
func (r *recent) pending(id string, now time.Time) (recentEntry, bool) {
	e, ok := r.get(id, now)
	if !ok || e.done {
		return recentEntry{}, false
	}
	return e, true
}

// get returns the remembered entry of id while its deadline has not passed.
func (r *recent) get(id string, now time.Time) (recentEntry, bool) {
	r.sweep(now)
	s := r.shard(id)
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.m[id]
	if ok && !now.Before(e.deadline) {
		delete(s.m, id)
		return recentEntry{}, false
	}
	return e, ok
}

func (r *recent) forget(id string) {
	s := r.shard(id)
	s.mu.Lock()
	delete(s.m, id)
	s.mu.Unlock()
}

// LookupForUpdate is Lookup for a caller about to change the record with
// Claim or Complete: when this Store wrote the record's current pending
// value itself, it opens that value without reading it from the driver.
// If the stored value changed since (elsewhere), the following Claim or
// Complete reads it and decides on what is stored, as after a fresh Lookup.
func (s *Store) LookupForUpdate(ctx context.Context, id string) (*Record, error) {
	if e, ok := s.recent.pending(id, s.now()); ok {
		rec, err := s.open(id, e.raw)
		if err == nil && rec.State == proofline.StatusPending {
			rec.remembered = true
			return rec, nil
		}
		s.recent.forget(id)
	}
	return s.Lookup(ctx, id)
}

// Fresh returns rec read again from the driver when rec is a value this
// Store remembered (LookupForUpdate), and rec itself otherwise: a caller
// about to refuse a request on what this Store last wrote judges it on
// what is stored now (another server may have deleted or ended it).
func (s *Store) Fresh(ctx context.Context, rec *Record) (*Record, error) {
	if !rec.remembered {
		return rec, nil
	}
	return s.Lookup(ctx, rec.ResultID)
}

// PendingHere returns id's outcome as pending, without reading the driver,
// when this Store last wrote the record as pending and its deadline has not
// passed; ok is false otherwise (read it with Outcome). A change another
// server made since is not seen here.
func (s *Store) PendingHere(id string) (o *proofline.Outcome, ok bool) {
	e, ok := s.recent.pending(id, s.now())
	if !ok {
		return nil, false
	}
	return &proofline.Outcome{ResultID: id, Kind: e.kind, Tenant: e.tenant, Status: proofline.StatusPending, RequestedAt: e.requestedAt, Deadline: e.deadline}, true
}

// TenantHere returns the tenant of id when this Store created, claimed or
// completed the record and it has not expired since; ok is false otherwise
// (read it with Lookup). It says nothing of whether the record is still
// stored: another server may have deleted it.
func (s *Store) TenantHere(id string) (tenant string, ok bool) {
	e, ok := s.recent.get(id, s.now())
	return e.tenant, ok
}

// remember notes the outcome of a write of id's pending value next: kept
// after a success, forgotten after a conflict or a missing record.
func (s *Store) remember(id string, next []byte, p *Pending, err error) {
	switch {
	case err == nil:
		s.recent.put(id, next, p, s.now())
	case errors.Is(err, ErrConflict), errors.Is(err, ErrNotFound), errors.Is(err, ErrExists):
		s.recent.forget(id)
	}
}
