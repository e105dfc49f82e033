// Package logbuf makes proofline's JSON log lines cheap to write: a Writer
// gathers lines in memory and writes them out in batches (every
// FlushInterval, when the buffer fills, on Flush and on Close) instead of one
// write system call per line, and Handler flushes at once after a line of
// level WARN or above, so a warning or an error is never left waiting.
//
// Every line is still written, whole and in order; each line's "time" is
// when it was logged, not when its batch was written. What a crash that
// kills the process can lose is the last FlushInterval of INFO lines.
package logbuf

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"time"
)

// Options configure a Writer. The zero value is ready to use.
type Options struct {
	// FlushInterval is the longest a line waits in memory. Default 50 ms.
	FlushInterval time.Duration
	// BufferBytes is the batch size that triggers a write at once. Default 64 KiB.
	BufferBytes int
}

// Writer is an io.Writer that batches writes to an underlying writer. It is
// safe for concurrent use; each Write is kept whole.
type Writer struct {
	w     io.Writer
	limit int

	mu  sync.Mutex // guards buf, closed
	buf []byte
	// closed: Writes go straight through.
	closed bool

	flushMu sync.Mutex // serializes writes to w, keeping batches in order
	spare   []byte

	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

// New returns a Writer over w and starts its flusher. Call Close to stop it
// and write what is left.
func New(w io.Writer, o Options) *Writer {
	if o.FlushInterval <= 0 {
		o.FlushInterval = 50 * time.Millisecond
	}
	if o.BufferBytes <= 0 {
		o.BufferBytes = 64 << 10
	}
	b := &Writer{w: w, limit: o.BufferBytes, buf: make([]byte, 0, o.BufferBytes), spare: make([]byte, 0, o.BufferBytes),
		stop: make(chan struct{}), done: make(chan struct{})}
	go b.run(o.FlushInterval)
	return b
}

func (b *Writer) run(every time.Duration) {
	defer close(b.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-b.stop:
			return
		case <-t.C:
			_ = b.Flush()
		}
	}
}

// Write keeps a copy of p for the next batch. When p does not fit (or the
// Writer is closed), what is buffered is written at once, then p.
func (b *Writer) Write(p []byte) (int, error) {
	b.mu.Lock()
	if !b.closed && len(b.buf)+len(p) <= b.limit {
		b.buf = append(b.buf, p...)
		b.mu.Unlock()
		return len(p), nil
	}
	b.mu.Unlock()
	b.flushMu.Lock()
	defer b.flushMu.Unlock()
	if err := b.flushLocked(); err != nil {
		return 0, err
	}
	return b.w.Write(p)
}

// Flush writes every line buffered so far.
func (b *Writer) Flush() error {
	b.flushMu.Lock()
	defer b.flushMu.Unlock()
	return b.flushLocked()
}

// flushLocked writes the buffer out; the caller holds flushMu.
func (b *Writer) flushLocked() error {
	b.mu.Lock()
	out := b.buf
	b.buf = b.spare[:0]
	b.mu.Unlock()
	var err error
	if len(out) > 0 {
		_, err = b.w.Write(out)
	}
	b.spare = out[:0]
	return err
}

// Close stops the flusher and writes what is left; later Writes go
// straight to the underlying writer. It is idempotent.
func (b *Writer) Close() error {
	var err error
	b.closeOnce.Do(func() {
		close(b.stop)
		<-b.done
		err = b.Flush()
		b.mu.Lock()
		b.closed = true
		b.mu.Unlock()
		err = firstErr(err, b.Flush())
	})
	return err
}

func firstErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// Handler wraps h (which writes to w) so that a record of level WARN or
// above is flushed as soon as it is written.
func Handler(h slog.Handler, w *Writer) slog.Handler { return &handler{h: h, w: w} }

type handler struct {
	h slog.Handler
	w *Writer
}

func (x *handler) Enabled(ctx context.Context, l slog.Level) bool { return x.h.Enabled(ctx, l) }

func (x *handler) Handle(ctx context.Context, r slog.Record) error {
	err := x.h.Handle(ctx, r)
	if r.Level >= slog.LevelWarn {
		err = firstErr(err, x.w.Flush())
	}
	return err
}

func (x *handler) WithAttrs(as []slog.Attr) slog.Handler {
	return &handler{h: x.h.WithAttrs(as), w: x.w}
}

func (x *handler) WithGroup(name string) slog.Handler {
	return &handler{h: x.h.WithGroup(name), w: x.w}
}
