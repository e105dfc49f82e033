package resultstore

import (
	"context"
	"errors"
	"hash/maphash"
	"sync"
	"time"
)

// ErrClosed is returned by a Memory driver used after Close.
var ErrClosed = errors.New("resultstore: driver closed")

// MemoryOptions configures a Memory driver. The zero value is ready to use.
type MemoryOptions struct {
	// Now is the clock that decides expiry. Default time.Now.
	Now func() time.Time
	// SweepInterval is how often the janitor removes expired entries.
	// Expired entries are invisible at once whatever the interval; sweeping
	// only returns their memory. Default 30s; negative disables the janitor.
	SweepInterval time.Duration
}

// DefaultSweepInterval is the janitor period when MemoryOptions leaves it zero.
const DefaultSweepInterval = 30 * time.Second

// memoryShards spreads ids over independently locked maps so that concurrent
// callers rarely wait for each other and a sweep holds each lock briefly.
const memoryShards = 32

// Memory is the embedded Driver: values live in this process only, so it
// suits a single server (the embedded default) and tests. It is safe for
// concurrent use.
//
// Each entry costs its id, its value and 24 bytes of bookkeeping (the value
// is kept as an immutable string, the expiry as Unix nanoseconds).
type Memory struct {
	now    func() time.Time
	seed   maphash.Seed
	shards [memoryShards]memoryShard

	closeOnce sync.Once
	stop      chan struct{}
	done      chan struct{}
}

type memoryShard struct {
	mu     sync.RWMutex
	m      map[string]memoryEntry
	closed bool
}

type memoryEntry struct {
	value   string // immutable copy of the caller's bytes
	expires int64  // Unix nanoseconds; visible while now < expires
}

// NewMemory returns a Memory driver and starts its janitor. Call Close to stop it.
func NewMemory(opts MemoryOptions) *Memory {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.SweepInterval == 0 {
		opts.SweepInterval = DefaultSweepInterval
	}
	d := &Memory{
		now:  opts.Now,
		seed: maphash.MakeSeed(),
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}
	for i := range d.shards {
		d.shards[i].m = make(map[string]memoryEntry)
	}
	if opts.SweepInterval > 0 {
		go d.janitor(opts.SweepInterval)
	} else {
		close(d.done)
	}
	return d
}

func (d *Memory) shard(id string) *memoryShard {
	return &d.shards[maphash.String(d.seed, id)%memoryShards]
}

func (d *Memory) deadline(ttl time.Duration) (int64, error) {
	if ttl <= 0 {
		return 0, errors.New("resultstore: ttl must be positive")
	}
	return d.now().Add(ttl).UnixNano(), nil
}

// Create stores a copy of value under id for ttl. ErrExists if id is present
// and not expired.
func (d *Memory) Create(_ context.Context, id string, value []byte, ttl time.Duration) error {
	exp, err := d.deadline(ttl)
	if err != nil {
		return err
	}
	s := d.shard(id)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if e, ok := s.m[id]; ok && d.live(e) {
		return ErrExists
	}
	s.m[id] = memoryEntry{value: string(value), expires: exp}
	return nil
}

// Get returns a copy of the value under id. ErrNotFound if absent or expired.
func (d *Memory) Get(_ context.Context, id string) ([]byte, error) {
	s := d.shard(id)
	s.mu.RLock()
	e, ok := s.m[id]
	closed := s.closed
	s.mu.RUnlock()
	if closed {
		return nil, ErrClosed
	}
	if !ok || !d.live(e) {
		return nil, ErrNotFound
	}
	return []byte(e.value), nil
}

// Swap replaces the value under id with a copy of next and resets its TTL,
// only if the current value equals old.
func (d *Memory) Swap(_ context.Context, id string, old, next []byte, ttl time.Duration) error {
	exp, err := d.deadline(ttl)
	if err != nil {
		return err
	}
	s := d.shard(id)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	e, ok := s.m[id]
	if !ok || !d.live(e) {
		return ErrNotFound
	}
	if e.value != string(old) { // the conversion does not allocate
		return ErrConflict
	}
	s.m[id] = memoryEntry{value: string(next), expires: exp}
	return nil
}

// Delete removes id and reports whether it was present (and not expired).
func (d *Memory) Delete(_ context.Context, id string) (bool, error) {
	s := d.shard(id)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false, ErrClosed
	}
	e, ok := s.m[id]
	if !ok {
		return false, nil
	}
	delete(s.m, id)
	return d.live(e), nil
}

// Len returns the number of entries held, counting expired entries the
// janitor has not swept yet. It is meant for metrics and tests.
func (d *Memory) Len() int {
	n := 0
	for i := range d.shards {
		s := &d.shards[i]
		s.mu.RLock()
		n += len(s.m)
		s.mu.RUnlock()
	}
	return n
}

// Sweep removes every expired entry now and returns how many it removed. The
// janitor calls it every SweepInterval.
func (d *Memory) Sweep() int {
	removed := 0
	var expired []string
	for i := range d.shards {
		s := &d.shards[i]
		// Find candidates under the read lock, so readers are not held up by
		// the scan, then delete the ones still expired under the write lock.
		expired = expired[:0]
		now := d.now().UnixNano()
		s.mu.RLock()
		for id, e := range s.m {
			if now >= e.expires {
				expired = append(expired, id)
			}
		}
		s.mu.RUnlock()
		if len(expired) == 0 {
			continue
		}
		s.mu.Lock()
		now = d.now().UnixNano()
		for _, id := range expired {
			if e, ok := s.m[id]; ok && now >= e.expires {
				delete(s.m, id)
				removed++
			}
		}
		s.mu.Unlock()
	}
	clear(expired)
	return removed
}

func (d *Memory) live(e memoryEntry) bool { return d.now().UnixNano() < e.expires }

func (d *Memory) janitor(every time.Duration) {
	defer close(d.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-d.stop:
			return
		case <-t.C:
			d.Sweep()
		}
	}
}

// Close stops the janitor, waits for it to exit and drops every entry. Later
// calls return ErrClosed from every method; Close itself is idempotent.
func (d *Memory) Close() error {
	d.closeOnce.Do(func() {
		close(d.stop)
		<-d.done
		for i := range d.shards {
			s := &d.shards[i]
			s.mu.Lock()
			s.closed = true
			s.m = nil
			s.mu.Unlock()
		}
	})
	return nil
}

var _ Driver = (*Memory)(nil)
