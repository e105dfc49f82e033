package webhook

import (
	"context"
	"errors"
	"sync"
	"time"
)

// Driver keeps the outbox: opaque values (sealed before they get here) under
// ids, each due at a time. It is the persisted half of at-least-once
// delivery: a message stays until a delivery succeeds or it is too old, so a
// restart or a crash between attempts loses nothing. Implementations must be
// safe for concurrent use, and several processes may share one (Redis).
type Driver interface {
	// Put stores value under id, due at due, kept for ttl; it replaces any
	// value and due time id had.
	Put(ctx context.Context, id string, value []byte, due time.Time, ttl time.Duration) error
	// Lease returns up to n items due at or before now, and moves each one's
	// due time to now+lease, so that no other caller takes it while it is
	// being delivered. An item whose lease runs out is due again.
	Lease(ctx context.Context, now time.Time, lease time.Duration, n int) ([]Item, error)
	// Ack removes id if it still holds value (the value a Lease returned):
	// an item Put again meanwhile is kept.
	Ack(ctx context.Context, id string, value []byte) error
	// Close releases the driver's resources.
	Close() error
}

// Item is one leased outbox entry.
type Item struct {
	ID    string
	Value []byte
}

// ErrClosed is returned by a Memory outbox used after Close.
var ErrClosed = errors.New("webhook: outbox closed")

// Memory is the in-process outbox of the embedded default: it lives as long
// as the process, like the memory result store. Lease scans every entry,
// which suits the few messages one process holds.
type Memory struct {
	mu     sync.Mutex
	m      map[string]memoryItem
	closed bool
}

type memoryItem struct {
	value   string
	due     time.Time
	expires time.Time
}

// NewMemory returns an empty Memory outbox.
func NewMemory() *Memory { return &Memory{m: map[string]memoryItem{}} }

// Put implements Driver.
func (d *Memory) Put(_ context.Context, id string, value []byte, due time.Time, ttl time.Duration) error {
	if ttl <= 0 {
		return errors.New("webhook: ttl must be positive")
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return ErrClosed
	}
	d.m[id] = memoryItem{value: string(value), due: due, expires: time.Now().Add(ttl)}
	return nil
}

// Lease implements Driver. Entries past their ttl are dropped.
func (d *Memory) Lease(_ context.Context, now time.Time, lease time.Duration, n int) ([]Item, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil, ErrClosed
	}
	var out []Item
	wall := time.Now()
	for id, it := range d.m {
		if !wall.Before(it.expires) {
			delete(d.m, id)
			continue
		}
		if len(out) < n && !it.due.After(now) {
			it.due = now.Add(lease)
			d.m[id] = it
			out = append(out, Item{ID: id, Value: []byte(it.value)})
		}
	}
	return out, nil
}

// Ack implements Driver.
func (d *Memory) Ack(_ context.Context, id string, value []byte) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return ErrClosed
	}
	if it, ok := d.m[id]; ok && it.value == string(value) {
		delete(d.m, id)
	}
	return nil
}

// Len returns how many entries are held (for tests and metrics).
func (d *Memory) Len() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.m)
}

// Close drops every entry; later calls fail with ErrClosed.
func (d *Memory) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed, d.m = true, nil
	return nil
}

var _ Driver = (*Memory)(nil)
