package logbuf_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/proofline/proofline/observe/logbuf"
)

// sink records what reaches the underlying writer and how many writes it took.
type sink struct {
	mu     sync.Mutex
	b      bytes.Buffer
	writes int
	wrote  chan struct{}
}

func newSink() *sink { return &sink{wrote: make(chan struct{}, 1)} }

func (s *sink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writes++
	select {
	case s.wrote <- struct{}{}:
	default:
	}
	return s.b.Write(p)
}

func (s *sink) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func (s *sink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.writes
}

// Many lines from many goroutines all arrive, whole, in far fewer writes
// than lines, and each goroutine's lines stay in its order.
func TestLinesArriveWholeInOrderInBatches(t *testing.T) {
	t.Parallel()
	s := newSink()
	w := logbuf.New(s, logbuf.Options{FlushInterval: time.Hour, BufferBytes: 4096})
	log := slog.New(slog.NewJSONHandler(w, nil))
	const goroutines, lines = 8, 500
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range lines {
				log.Info("http request", slog.Int("g", g), slog.Int("i", i))
			}
		}()
	}
	wg.Wait()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	out := strings.Split(strings.TrimSuffix(s.String(), "\n"), "\n")
	if len(out) != goroutines*lines {
		t.Fatalf("%d lines written, want %d", len(out), goroutines*lines)
	}
	next := make([]int, goroutines)
	for _, l := range out {
		var g, i int
		if _, err := fmt.Sscanf(l[strings.Index(l, `"g":`):], `"g":%d,"i":%d}`, &g, &i); err != nil {
			t.Fatalf("line not whole: %q", l)
		}
		if i != next[g] {
			t.Fatalf("goroutine %d: line %d after %d", g, i, next[g]-1)
		}
		next[g]++
	}
	if n := s.count(); n*10 > len(out) {
		t.Errorf("%d writes for %d lines: not batched", n, len(out))
	}
}

// A warning or an error goes out at once, with the lines before it; INFO
// lines wait for the next batch.
func TestWarningsAreWrittenAtOnce(t *testing.T) {
	t.Parallel()
	s := newSink()
	w := logbuf.New(s, logbuf.Options{FlushInterval: time.Hour})
	defer w.Close()
	log := slog.New(logbuf.Handler(slog.NewJSONHandler(w, nil), w)).With(slog.String("kind", "address"))
	log.Info("job started")
	if s.String() != "" {
		t.Fatalf("an INFO line was written before its batch: %q", s.String())
	}
	log.Warn("duplicate callback refused")
	got := s.String()
	if !strings.Contains(got, "job started") || !strings.Contains(got, "duplicate callback refused") || !strings.Contains(got, `"kind":"address"`) {
		t.Fatalf("after a WARN line: %q", got)
	}
}

// Without Flush or Close, a line is written by the flusher.
func TestFlusherWritesWithoutClose(t *testing.T) {
	t.Parallel()
	s := newSink()
	w := logbuf.New(s, logbuf.Options{FlushInterval: 5 * time.Millisecond})
	defer w.Close()
	_, _ = w.Write([]byte("line\n"))
	select {
	case <-s.wrote:
	case <-time.After(5 * time.Second):
		t.Fatal("the flusher never wrote the line")
	}
	if s.String() != "line\n" {
		t.Fatalf("got %q", s.String())
	}
}

// After Close, writes go straight through.
func TestWritesAfterCloseGoThrough(t *testing.T) {
	t.Parallel()
	s := newSink()
	w := logbuf.New(s, logbuf.Options{FlushInterval: time.Hour})
	_, _ = w.Write([]byte("a\n"))
	_ = w.Close()
	_ = w.Close()
	_, _ = w.Write([]byte("b\n"))
	if s.String() != "a\nb\n" {
		t.Fatalf("got %q", s.String())
	}
}
