package attempts

import (
	"context"
	"sync"
	"time"
)

// Memory is the in-process driver of the embedded default.
type Memory struct {
	mu       sync.Mutex
	now      func() time.Time
	subjects map[string]*memSubject
	calls    int
}

type memSubject struct {
	inflight map[string]time.Time // id → deadline
	used     []time.Time          // expiry of each used attempt
}

// NewMemory returns a memory driver; now may be nil (time.Now).
func NewMemory(now func() time.Time) *Memory {
	if now == nil {
		now = time.Now
	}
	return &Memory{now: now, subjects: map[string]*memSubject{}}
}

// prune drops expired slots and used attempts, and the subject when empty.
func (m *Memory) prune(key string, now time.Time) *memSubject {
	s := m.subjects[key]
	if s == nil {
		return nil
	}
	for id, dl := range s.inflight {
		if !now.Before(dl) {
			delete(s.inflight, id)
		}
	}
	live := s.used[:0]
	for _, exp := range s.used {
		if now.Before(exp) {
			live = append(live, exp)
		}
	}
	s.used = live
	if len(s.inflight) == 0 && len(s.used) == 0 {
		delete(m.subjects, key)
		return nil
	}
	return s
}

// Reserve implements Driver.
func (m *Memory) Reserve(_ context.Context, key, id string, deadline time.Time, max int, _ time.Duration) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	if m.calls++; m.calls%1024 == 0 {
		// Subjects that never come back are dropped once their slots and
		// used attempts expire.
		for k := range m.subjects {
			m.prune(k, now)
		}
	}
	s := m.prune(key, now)
	if s == nil {
		s = &memSubject{inflight: map[string]time.Time{}}
		m.subjects[key] = s
	}
	if len(s.used)+len(s.inflight) >= max {
		if len(s.inflight) == 0 && len(s.used) == 0 {
			delete(m.subjects, key)
		}
		return false, nil
	}
	s.inflight[id] = deadline
	return true, nil
}

// Finish implements Driver.
func (m *Memory) Finish(_ context.Context, key, id string, consume bool, window time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	s := m.subjects[key]
	if s == nil {
		if !consume {
			return nil
		}
		s = &memSubject{inflight: map[string]time.Time{}}
		m.subjects[key] = s
	}
	delete(s.inflight, id)
	if consume {
		s.used = append(s.used, now.Add(window))
	}
	m.prune(key, now)
	return nil
}

// Close implements Driver.
func (m *Memory) Close() error { return nil }
