package queuedispatch_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/proofline/proofline"
)

// TestQueueStorageHoldsNoPlaintextPII enqueues a sealed job carrying marker
// PII and reads back every Redis value of the test's queues, whatever its
// type: the marker never appears, the routing metadata (result_id) does.
func TestQueueStorageHoldsNoPlaintextPII(t *testing.T) {
	t.Parallel()
	f := setup(t)
	d := f.driver(3)
	const marker = "Zyxwvutsrqmarker"
	id := proofline.NewResultID()
	env, _, err := proofline.SealEnvelope(proofline.Envelope{
		Kind: proofline.KindResolution, ResultID: id, CallbackURL: "https://idp.example.gov" + proofline.CallbackPath(proofline.KindResolution, id),
		Deadline: time.Now().Add(time.Minute), TraceID: "t", WorkerVersion: "v",
	}, &proofline.Payload{Resolution: &proofline.ResolutionArgs{Applicant: proofline.Applicant{
		FirstName: marker, LastName: marker, SSN: proofline.PII("900-12-" + marker[:4]), Address1: marker + " St", Phone: marker,
	}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Send(context.Background(), env); err != nil {
		t.Fatal(err)
	}
	c, err := redisSrv.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	var all bytes.Buffer
	keys := 0
	cursor := uint64(0)
	for {
		e, err := c.Do(ctx, c.B().Scan().Cursor(cursor).Match("asynq:{"+f.prefix+"*").Count(1000).Build()).AsScanEntry()
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range e.Elements {
			keys++
			all.WriteString(k)
			typ, _ := c.Do(ctx, c.B().Type().Key(k).Build()).ToString()
			var vals []string
			switch typ {
			case "string":
				v, _ := c.Do(ctx, c.B().Get().Key(k).Build()).ToString()
				vals = []string{v}
			case "hash":
				m, _ := c.Do(ctx, c.B().Hgetall().Key(k).Build()).AsStrMap()
				for fk, fv := range m {
					vals = append(vals, fk, fv)
				}
			case "list":
				vals, _ = c.Do(ctx, c.B().Lrange().Key(k).Start(0).Stop(-1).Build()).AsStrSlice()
			case "zset":
				vals, _ = c.Do(ctx, c.B().Zrange().Key(k).Min("0").Max("-1").Build()).AsStrSlice()
			case "set":
				vals, _ = c.Do(ctx, c.B().Smembers().Key(k).Build()).AsStrSlice()
			}
			for _, v := range vals {
				all.WriteString(v)
			}
		}
		if e.Cursor == 0 {
			break
		}
		cursor = e.Cursor
	}
	if keys == 0 || !bytes.Contains(all.Bytes(), []byte(id)) {
		t.Fatalf("the queued job was not found (%d keys)", keys)
	}
	if bytes.Contains(all.Bytes(), []byte(marker)) || bytes.Contains(all.Bytes(), []byte(marker[:8])) {
		t.Fatal("plaintext PII in queue storage")
	}
}
