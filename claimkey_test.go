package proofline_test

import (
	"bytes"
	"sync"
	"testing"
	"time"

	"github.com/proofline/proofline"
)

// answerKey is the IdP public key an answer was wrapped with.
func answerKey(t *testing.T, answer []byte) []byte {
	t.Helper()
	r, err := proofline.ParseClaimResponse(answer)
	if err != nil {
		t.Fatal(err)
	}
	return r.PublicKey
}

// Within its lifetime the IdP answers with one key pair; each answer still
// opens only for the claimant it was made for (its one-claim key), and the
// next claim after the lifetime gets a new key pair.
func TestClaimKeysShareIdPKeyButNotAnswers(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	now := time.Unix(1_700_000_000, 0)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	ks := proofline.NewClaimKeys(10*time.Second, clock)

	type claim struct {
		c       *proofline.Claimant
		keys    *proofline.JobKeys
		env     *proofline.Envelope
		answer  []byte
		idpPubl []byte
	}
	answer := func() *claim {
		env, keys := sealedJob(t)
		c, _ := proofline.NewClaimant(env)
		req, _ := proofline.ParseClaimRequest(c.Body())
		a, err := ks.Answer(env.Kind, env.ResultID, req, keys.DataKey)
		if err != nil {
			t.Fatal(err)
		}
		return &claim{c: c, keys: keys, env: env, answer: a, idpPubl: answerKey(t, a)}
	}
	a, b := answer(), answer()
	if !bytes.Equal(a.idpPubl, b.idpPubl) {
		t.Error("two claims within the lifetime got different IdP keys")
	}
	for _, x := range []*claim{a, b} {
		dk, err := x.c.Open(x.answer)
		if err != nil || !bytes.Equal(dk, x.keys.DataKey) {
			t.Fatalf("claimant did not get its data key: %v", err)
		}
	}
	// Same IdP key, but an answer wrapped for one claimant does not open
	// for another (a hop that made its own claim learns nothing).
	if _, err := b.c.Open(a.answer); err == nil {
		t.Error("claimant b opened the answer made for a")
	}
	if _, err := a.c.Open(b.answer); err == nil {
		t.Error("claimant a opened the answer made for b")
	}

	mu.Lock()
	now = now.Add(10 * time.Second)
	mu.Unlock()
	c := answer()
	if bytes.Equal(c.idpPubl, a.idpPubl) {
		t.Error("the IdP key pair outlived its lifetime")
	}
	if dk, err := c.c.Open(c.answer); err != nil || !bytes.Equal(dk, c.keys.DataKey) {
		t.Fatalf("after the change: %v", err)
	}
}

// A low-order (all-zero) worker key is refused with a reused IdP key too.
func TestClaimKeysRefuseLowOrderKey(t *testing.T) {
	t.Parallel()
	ks := proofline.NewClaimKeys(0, nil)
	env, keys := sealedJob(t)
	c, _ := proofline.NewClaimant(env)
	req, _ := proofline.ParseClaimRequest(c.Body())
	req.PublicKey = make([]byte, 32)
	if _, err := ks.Answer(env.Kind, env.ResultID, req, keys.DataKey); err == nil {
		t.Error("answered a claim for a low-order public key")
	}
}

// A lifetime of zero or less means the default (10 s): the key pair is
// reused until then and replaced at exactly the default, never made anew
// for every claim. A lifetime that is set is kept, however short.
func TestClaimKeysLifetime(t *testing.T) {
	t.Parallel()
	start := time.Unix(1_700_000_000, 0)
	for _, c := range []struct {
		lifetime, want time.Duration
	}{
		{0, proofline.DefaultClaimKeyLifetime},
		{-time.Second, proofline.DefaultClaimKeyLifetime},
		{time.Second, time.Second},
		{time.Minute, time.Minute},
	} {
		var mu sync.Mutex
		now := start
		ks := proofline.NewClaimKeys(c.lifetime, func() time.Time { mu.Lock(); defer mu.Unlock(); return now })
		at := func(d time.Duration) []byte {
			mu.Lock()
			now = start.Add(d)
			mu.Unlock()
			env, keys := sealedJob(t)
			cl, _ := proofline.NewClaimant(env)
			req, _ := proofline.ParseClaimRequest(cl.Body())
			a, err := ks.Answer(env.Kind, env.ResultID, req, keys.DataKey)
			if err != nil {
				t.Fatal(err)
			}
			if dk, err := cl.Open(a); err != nil || !bytes.Equal(dk, keys.DataKey) {
				t.Fatalf("claimant did not get its data key: %v", err)
			}
			return answerKey(t, a)
		}
		first := at(0)
		if !bytes.Equal(at(0), first) || !bytes.Equal(at(c.want-time.Nanosecond), first) {
			t.Errorf("lifetime %v: key pair replaced before %v", c.lifetime, c.want)
		}
		if bytes.Equal(at(c.want), first) {
			t.Errorf("lifetime %v: key pair still in use after %v", c.lifetime, c.want)
		}
	}
}

// Claims arriving together when no key pair is in force all get the same
// new one: replacing the key pair happens once, not once per claim.
func TestClaimKeysConcurrentFirstClaimsShareOneKey(t *testing.T) {
	t.Parallel()
	const n = 16
	type job struct {
		env  *proofline.Envelope
		keys *proofline.JobKeys
		c    *proofline.Claimant
		req  *proofline.ClaimRequest
	}
	for range 5 {
		ks := proofline.NewClaimKeys(time.Minute, nil)
		jobs := make([]job, n)
		for i := range jobs {
			env, keys := sealedJob(t)
			c, _ := proofline.NewClaimant(env)
			req, _ := proofline.ParseClaimRequest(c.Body())
			jobs[i] = job{env, keys, c, req}
		}
		answers := make([][]byte, n)
		errs := make([]error, n)
		var ready, done sync.WaitGroup
		start := make(chan struct{})
		for i := range jobs {
			ready.Add(1)
			done.Add(1)
			go func() {
				defer done.Done()
				ready.Done()
				<-start
				answers[i], errs[i] = ks.Answer(jobs[i].env.Kind, jobs[i].env.ResultID, jobs[i].req, jobs[i].keys.DataKey)
			}()
		}
		ready.Wait()
		close(start)
		done.Wait()
		first := []byte(nil)
		for i, a := range answers {
			if errs[i] != nil {
				t.Fatal(errs[i])
			}
			if dk, err := jobs[i].c.Open(a); err != nil || !bytes.Equal(dk, jobs[i].keys.DataKey) {
				t.Fatalf("claimant %d did not get its data key: %v", i, err)
			}
			if k := answerKey(t, a); first == nil {
				first = k
			} else if !bytes.Equal(k, first) {
				t.Fatal("concurrent first claims were answered with different IdP key pairs")
			}
		}
	}
}
