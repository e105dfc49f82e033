package server_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/proofline/proofline"
)

// workerBody is a JSON object of exactly n bytes.
func workerBody(n int) string {
	pre, post := `{"x":"`, `"}`
	return pre + strings.Repeat("x", n-len(pre)-len(post)) + post
}

// TestWorkerBodyLimits: a claim body (4 KiB) or a callback body (here
// MaxCallbackBytes 4096) of exactly the limit is read and judged by the
// service; one byte more is a 413,
// whether the length is declared or the body comes chunked.
func TestWorkerBodyLimits(t *testing.T) {
	t.Parallel()
	f := setup(t, false)
	env := f.startUnclaimed()
	tok := tokens[env.Kind]
	// What the service answers a body it reads: a claim that is not one is
	// a 400; a callback without a timestamp is a 401.
	read := map[string]int{"claim": 400, "callback": 401}
	paths := map[string]string{
		"claim":    proofline.ClaimPath(env.Kind, env.ResultID),
		"callback": proofline.CallbackPath(env.Kind, env.ResultID),
	}
	for name, path := range paths {
		for _, chunked := range []bool{false, true} {
			for n, want := range map[int]int{4096: read[name], 4097: 413} {
				body := workerBody(n)
				var r io.Reader = strings.NewReader(body)
				if chunked {
					r = io.MultiReader(r) // unknown length: sent chunked
				}
				req, _ := http.NewRequest("POST", f.srv.URL+path, r)
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set(proofline.HeaderAuthToken, tok)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != want {
					t.Errorf("%s of %d bytes (chunked %v): %d, want %d", name, n, chunked, resp.StatusCode, want)
				}
			}
		}
	}
}

// TestDefaultCallbackLimitIsOneMiB: without MaxCallbackBytes a callback of
// up to 1 MiB is read (an unknown job: 404) and a larger one is a 413.
func TestDefaultCallbackLimitIsOneMiB(t *testing.T) {
	t.Parallel()
	h := newLogged(t).srv.Handler()
	path := proofline.CallbackPath(proofline.KindAddress, proofline.NewResultID())
	for n, want := range map[int]int{1 << 20: 404, 1<<20 + 1: 413} {
		req := httptest.NewRequest("POST", path, strings.NewReader(workerBody(n)))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(proofline.HeaderAuthToken, tokens[proofline.KindAddress])
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != want {
			t.Errorf("callback of %d bytes: %d %s, want %d", n, rec.Code, rec.Body, want)
		}
	}
}
