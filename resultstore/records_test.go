package resultstore_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/proofline/proofline"
	"github.com/proofline/proofline/resultstore"
	"github.com/proofline/proofline/resultstore/storetest"
)

// A record id is 1 to 128 of A-Z a-z 0-9 _ -: each end of each range is
// allowed, the character just outside it is not, and so is anything longer.
func TestValidRecordID(t *testing.T) {
	t.Parallel()
	for _, id := range []string{"a", "z", "A", "Z", "0", "9", "_", "-", "azAZ09_-", strings.Repeat("x", 128)} {
		if !resultstore.ValidRecordID(id) {
			t.Errorf("ValidRecordID(%q) = false, want true", id)
		}
	}
	// '`' and '{' surround a-z, '@' and '[' A-Z, '/' and ':' 0-9.
	for _, id := range []string{"", strings.Repeat("x", 129), "`", "{", "@", "[", "/", ":", "ok`", "ok{", "ok@", "ok[", "ok/", "ok:", "a.b", "a b", "é"} {
		if resultstore.ValidRecordID(id) {
			t.Errorf("ValidRecordID(%q) = true, want false", id)
		}
	}
}

// A backend that is down makes every Records call EUNAVAILABLE, with the
// cause kept for the logs and out of the public message.
func TestRecordsDriverFailureIsUnavailable(t *testing.T) {
	t.Parallel()
	down := errors.New("connection refused")
	ring := storetest.NewRing(t, "k1")
	r := resultstore.NewRecords(brokenDriver{down}, ring, "test")
	ctx := context.Background()
	check := func(op string, err error) {
		t.Helper()
		storetest.WantCode(t, err, proofline.EUNAVAILABLE)
		if !errors.Is(err, down) {
			t.Errorf("%s: cause lost: %v", op, err)
		}
		if msg := proofline.ErrorMessage(err); strings.Contains(msg, "refused") {
			t.Errorf("%s: public message %q carries the cause", op, msg)
		}
	}
	check("Create", r.Create(ctx, "id1", map[string]int{"n": 1}, time.Minute))
	var v map[string]int
	_, err := r.Get(ctx, "id1", &v)
	check("Get", err)
	check("Delete", r.Delete(ctx, "id1"))
	check("Close", r.Close())
	// Replace needs a version read from a working store.
	d := resultstore.NewMemory(resultstore.MemoryOptions{})
	t.Cleanup(func() { _ = d.Close() })
	good := resultstore.NewRecords(d, ring, "test")
	if err := good.Create(ctx, "id1", map[string]int{"n": 1}, time.Minute); err != nil {
		t.Fatal(err)
	}
	ver, err := good.Get(ctx, "id1", &v)
	if err != nil {
		t.Fatal(err)
	}
	check("Replace", r.Replace(ctx, "id1", ver, map[string]int{"n": 2}, time.Minute))
}

// Records owns its driver: Close closes it, and later calls fail.
func TestRecordsCloseClosesTheDriver(t *testing.T) {
	t.Parallel()
	d := resultstore.NewMemory(resultstore.MemoryOptions{})
	r := resultstore.NewRecords(d, storetest.NewRing(t, "k1"), "test")
	ctx := context.Background()
	if err := r.Create(ctx, "id1", map[string]int{"n": 1}, time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := d.Get(ctx, "id1"); !errors.Is(err, resultstore.ErrClosed) {
		t.Fatalf("driver Get after Records.Close: %v, want ErrClosed", err)
	}
	var v map[string]int
	_, err := r.Get(ctx, "id1", &v)
	storetest.WantCode(t, err, proofline.EUNAVAILABLE)
}
