package storetest

import (
	"strings"
	"testing"
	"time"

	"github.com/proofline/proofline"
	"github.com/proofline/proofline/resultstore"
)

// recordDoc is what the Records scenarios store: PII-like markers, so that a
// plaintext leak shows.
type recordDoc struct {
	Name  string `json:"name"`
	Count int    `json:"count"`
}

// RunRecordsTests runs the conformance tests of resultstore.Records (the
// sealed records kept beside the results: sessions, capture owners) over
// drivers from h.
func RunRecordsTests(t *testing.T, h Harness) {
	marker := CanaryMarkers()[0]
	t.Run("RoundTripAndCompareAndSwap", func(t *testing.T) {
		t.Parallel()
		e := h.setup(t)
		r := resultstore.NewRecords(e.d, e.ring, "test")
		id := "vs_" + strings.ToLower(id())
		must(t, r.Create(e.ctx, id, recordDoc{Name: marker, Count: 1}, time.Minute))
		WantCode(t, r.Create(e.ctx, id, recordDoc{}, time.Minute), proofline.ECONFLICT)
		var got recordDoc
		v1, err := r.Get(e.ctx, id, &got)
		must(t, err)
		if got.Name != marker || got.Count != 1 {
			t.Fatalf("Get = %+v", got)
		}
		must(t, r.Replace(e.ctx, id, v1, recordDoc{Name: marker, Count: 2}, time.Minute))
		// The version read before the replace is stale now.
		WantCode(t, r.Replace(e.ctx, id, v1, recordDoc{Count: 3}, time.Minute), proofline.ECONFLICT)
		if _, err := r.Get(e.ctx, id, &got); err != nil || got.Count != 2 {
			t.Fatalf("after a stale replace: %+v, %v", got, err)
		}
		raw, err := e.d.Get(e.ctx, id)
		must(t, err)
		AssertNoPlaintext(t, "a stored record", raw)
		must(t, r.Delete(e.ctx, id))
		WantCode(t, r.Delete(e.ctx, id), proofline.ENOTFOUND)
		_, err = r.Get(e.ctx, id, &got)
		WantCode(t, err, proofline.ENOTFOUND)
		WantCode(t, r.Replace(e.ctx, id, v1, recordDoc{}, time.Minute), proofline.ENOTFOUND)
	})

	t.Run("BoundToIDAndPurpose", func(t *testing.T) {
		t.Parallel()
		e := h.setup(t)
		r := resultstore.NewRecords(e.d, e.ring, "test")
		a, b := "a"+id(), "b"+id()
		must(t, r.Create(e.ctx, a, recordDoc{Name: marker}, time.Minute))
		raw, err := e.d.Get(e.ctx, a)
		must(t, err)
		must(t, e.d.Create(e.ctx, b, raw, time.Minute))
		var got recordDoc
		_, err = r.Get(e.ctx, b, &got)
		WantCode(t, err, proofline.EINTERNAL)
		_, err = resultstore.NewRecords(e.d, e.ring, "other").Get(e.ctx, a, &got)
		WantCode(t, err, proofline.EINTERNAL)
		_, err = resultstore.NewRecords(e.d, NewRing(t, "k1"), "test").Get(e.ctx, a, &got)
		WantCode(t, err, proofline.EINTERNAL)
		if got.Name != "" {
			t.Fatal("a record that does not open filled the value")
		}
	})

	t.Run("MalformedIDsNeverReachTheDriver", func(t *testing.T) {
		t.Parallel()
		e := h.setup(t)
		r := resultstore.NewRecords(e.d, e.ring, "test")
		for _, bad := range []string{"", "a:b", "../x", "a b", strings.Repeat("a", 129)} {
			var got recordDoc
			_, err := r.Get(e.ctx, bad, &got)
			WantCode(t, err, proofline.ENOTFOUND)
			WantCode(t, r.Create(e.ctx, bad, recordDoc{}, time.Minute), proofline.EINVALID)
		}
	})

	t.Run("LongestIDAndEveryCharacter", func(t *testing.T) {
		t.Parallel()
		e := h.setup(t)
		r := resultstore.NewRecords(e.d, e.ring, "test")
		// 128 characters, the longest id, using the ends of every range.
		long := strings.Repeat("azAZ09_-", 16)
		must(t, r.Create(e.ctx, long, recordDoc{Name: marker, Count: 128}, time.Minute))
		var got recordDoc
		v, err := r.Get(e.ctx, long, &got)
		must(t, err)
		if got.Count != 128 {
			t.Fatalf("Get = %+v", got)
		}
		must(t, r.Replace(e.ctx, long, v, recordDoc{Count: 129}, time.Minute))
		must(t, r.Delete(e.ctx, long))
		WantCode(t, r.Delete(e.ctx, long), proofline.ENOTFOUND)
	})

	t.Run("Expiry", func(t *testing.T) {
		t.Parallel()
		e := h.setup(t)
		r := resultstore.NewRecords(e.d, e.ring, "test")
		k := id()
		const ttl = 100 * time.Millisecond
		must(t, r.Create(e.ctx, k, recordDoc{Count: 1}, ttl))
		if e.clk != nil {
			e.clk.Advance(ttl)
		}
		poll(t, "the record to expire", func() bool {
			var got recordDoc
			_, err := r.Get(e.ctx, k, &got)
			return proofline.ErrorCode(err) == proofline.ENOTFOUND
		})
	})
}
