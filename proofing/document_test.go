package proofing_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/proofline/proofline"
	"github.com/proofline/proofline/blobstore"
	"github.com/proofline/proofline/proofing"
	"github.com/proofline/proofline/resultstore"
	"github.com/proofline/proofline/tenant"
)

// blobs is a blob store driver that issues https://blobs.example/<key> URLs
// and records deletes; failDelete makes them fail.
type blobs struct {
	mu         sync.Mutex
	deleted    []string
	failDelete error
}

const blobOrigin = "https://blobs.example/"

func (b *blobs) PresignUpload(_ context.Context, key string, _ time.Time, _ int64) (blobstore.Upload, error) {
	return blobstore.Upload{URL: blobOrigin + key, Method: "PUT"}, nil
}

func (b *blobs) KeyFromURL(raw string) (string, error) {
	if k, ok := strings.CutPrefix(raw, blobOrigin); ok {
		return k, nil
	}
	return "", blobstore.ErrForeignURL
}

func (b *blobs) Read(context.Context, string, int64) ([]byte, error) {
	return nil, blobstore.ErrNotFound
}

func (b *blobs) Delete(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.failDelete != nil {
		return b.failDelete
	}
	b.deleted = append(b.deleted, key)
	return nil
}

func (b *blobs) deletes() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.deleted)
}

// docHarness is a harness with a blob store and capture tenancy.
func docHarness(t *testing.T) (*harness, *blobs) {
	b := &blobs{}
	h := newHarness(t, func(h *harness, o *proofing.Options) {
		o.Blobs = blobstore.New(b, blobstore.Options{Now: h.clk.Now, UploadTTL: 15 * time.Minute})
		recs := resultstore.NewRecords(resultstore.NewMemory(resultstore.MemoryOptions{Now: h.clk.Now, SweepInterval: -1}), h.ring, "capture")
		t.Cleanup(func() { _ = recs.Close() })
		o.Captures = recs
	})
	return h, b
}

var (
	docKey = base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))
	ivA    = base64.StdEncoding.EncodeToString([]byte("iv-front-012"))
	ivB    = base64.StdEncoding.EncodeToString([]byte("iv-back-0123"))
	ivC    = base64.StdEncoding.EncodeToString([]byte("iv-selfie-01"))
)

// docRequest is a valid document start on capture c.
func docRequest(c *blobstore.Capture) proofing.DocumentRequest {
	return proofing.DocumentRequest{
		CaptureID: c.ID, EncryptionKey: docKey,
		FrontImageURL: c.Uploads[blobstore.SideFront].URL, FrontImageIV: ivA,
		BackImageURL: c.Uploads[blobstore.SideBack].URL, BackImageIV: ivB,
	}
}

func capture(t *testing.T, h *harness, ctx context.Context) *blobstore.Capture {
	t.Helper()
	c, err := h.svc.NewCapture(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Without a blob store there is no document capture nor start; discarding
// a capture then does nothing.
func TestDocumentNotConfigured(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	_, err := h.svc.NewCapture(context.Background())
	wantCode(t, err, proofline.EUNAVAILABLE)
	_, err = h.svc.StartDocument(context.Background(), proofing.DocumentRequest{})
	wantCode(t, err, proofline.EUNAVAILABLE)
	h.svc.DiscardCapture(context.Background(), strings.Repeat("a", 32))
}

// A valid start carries the key, the images' keys and IVs, the person
// reference and the liveness selfie to the worker; it deletes nothing.
func TestDocumentStartPayload(t *testing.T) {
	t.Parallel()
	h, b := docHarness(t)
	c := capture(t, h, context.Background())
	r := docRequest(c)
	r.SelfieImageURL, r.SelfieImageIV, r.LivenessCheckingEnabled = c.Uploads[blobstore.SideSelfie].URL, ivC, true
	r.PersonRef, r.AADBinding = "sp-1:"+strings.Repeat("u", 123), true
	// The key in either base64 alphabet, padded or not: this one is all
	// '+' and '/' in the standard alphabet.
	key := bytes.Repeat([]byte{0xfb, 0xef, 0xff}, 11)[:32]
	r.EncryptionKey = base64.StdEncoding.EncodeToString(key)
	st, err := h.svc.StartDocument(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	p := h.payload(st.ResultID).Document
	if !bytes.Equal(p.EncryptionKey, key) || p.PersonRef != r.PersonRef || !p.AADBinding || !p.LivenessCheckingEnabled {
		t.Errorf("document args %+v", p)
	}
	if p.Front.Key != c.ID+"/front" || string(p.Front.IV) != "iv-front-012" || p.Back.Key != c.ID+"/back" || string(p.Back.IV) != "iv-back-0123" {
		t.Errorf("images front %+v back %+v", p.Front, p.Back)
	}
	if p.Selfie == nil || p.Selfie.Key != c.ID+"/selfie" || string(p.Selfie.IV) != "iv-selfie-01" {
		t.Errorf("selfie %+v", p.Selfie)
	}
	if d := b.deletes(); len(d) != 0 {
		t.Errorf("a started capture's images deleted: %v", d)
	}
	// Without liveness no selfie is asked for nor sent.
	c = capture(t, h, context.Background())
	r = docRequest(c)
	r.EncryptionKey = base64.RawURLEncoding.EncodeToString(key)
	st, err = h.svc.StartDocument(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	if p := h.payload(st.ResultID).Document; p.Selfie != nil || p.PersonRef != "" || !bytes.Equal(p.EncryptionKey, key) {
		t.Errorf("document args without liveness %+v", p)
	}
}

// Every malformed field of a document start is named, and a refused start
// deletes the capture's images (no job will read them).
func TestDocumentStartValidation(t *testing.T) {
	t.Parallel()
	h, b := docHarness(t)
	cases := []struct {
		name  string
		mod   func(r *proofing.DocumentRequest, c, other *blobstore.Capture)
		field string
		msg   string
	}{
		{"no key", func(r *proofing.DocumentRequest, _, _ *blobstore.Capture) { r.EncryptionKey = "" }, "encryption_key", "is required"},
		{"short key", func(r *proofing.DocumentRequest, _, _ *blobstore.Capture) {
			r.EncryptionKey = base64.StdEncoding.EncodeToString(make([]byte, 31))
		}, "encryption_key", "must be a base64 AES-256 key (32 bytes)"},
		{"key not base64", func(r *proofing.DocumentRequest, _, _ *blobstore.Capture) { r.EncryptionKey = "!!" }, "encryption_key", "must be a base64 AES-256 key (32 bytes)"},
		{"person ref", func(r *proofing.DocumentRequest, _, _ *blobstore.Capture) { r.PersonRef = strings.Repeat("u", 129) }, "person_ref", "must be at most 128 letters, digits, ':', '_' or '-'"},
		{"person ref chars", func(r *proofing.DocumentRequest, _, _ *blobstore.Capture) { r.PersonRef = "a b" }, "person_ref", "must be at most 128 letters, digits, ':', '_' or '-'"},
		{"no front", func(r *proofing.DocumentRequest, _, _ *blobstore.Capture) { r.FrontImageURL = "" }, "front_image_url", "is required"},
		{"foreign url", func(r *proofing.DocumentRequest, _, _ *blobstore.Capture) {
			r.FrontImageURL = "https://evil.example/x"
		}, "front_image_url", "is not an upload URL issued by this service"},
		{"other side", func(r *proofing.DocumentRequest, c, _ *blobstore.Capture) {
			r.BackImageURL = c.Uploads[blobstore.SideFront].URL
		}, "back_image_url", "does not belong to this capture and side"},
		{"other capture", func(r *proofing.DocumentRequest, _, o *blobstore.Capture) {
			r.BackImageURL = o.Uploads[blobstore.SideBack].URL
		}, "back_image_url", "does not belong to this capture and side"},
		{"no iv", func(r *proofing.DocumentRequest, _, _ *blobstore.Capture) { r.BackImageIV = "" }, "back_image_iv", "is required"},
		{"short iv", func(r *proofing.DocumentRequest, _, _ *blobstore.Capture) {
			r.BackImageIV = base64.StdEncoding.EncodeToString(make([]byte, 11))
		}, "back_image_iv", "must be a base64 12-byte IV"},
		{"iv reused", func(r *proofing.DocumentRequest, _, _ *blobstore.Capture) { r.BackImageIV = r.FrontImageIV }, "back_image_iv", "must differ from front_image_iv"},
		{"selfie iv reused", func(r *proofing.DocumentRequest, c, _ *blobstore.Capture) {
			r.LivenessCheckingEnabled, r.SelfieImageURL, r.SelfieImageIV = true, c.Uploads[blobstore.SideSelfie].URL, r.BackImageIV
		}, "selfie_image_iv", "must differ from back_image_iv"},
		{"no selfie", func(r *proofing.DocumentRequest, _, _ *blobstore.Capture) {
			r.LivenessCheckingEnabled, r.SelfieImageIV = true, ivC
		}, "selfie_image_url", "is required"},
		{"client ip", func(r *proofing.DocumentRequest, _, _ *blobstore.Capture) { r.ClientIP = "x" }, "client_ip", "must be an IPv4 or IPv6 address"},
	}
	for _, tc := range cases {
		c, other := capture(t, h, context.Background()), capture(t, h, context.Background())
		r := docRequest(c)
		tc.mod(&r, c, other)
		before := len(b.deletes())
		_, err := h.svc.StartDocument(context.Background(), r)
		if got := fieldErrors(t, err); got[tc.field] != tc.msg || len(got) != 1 {
			t.Errorf("%s: field errors %v, want %s: %s", tc.name, got, tc.field, tc.msg)
		}
		want := []string{c.ID + "/front", c.ID + "/back", c.ID + "/selfie"}
		if got := b.deletes()[before:]; !slices.Equal(got, want) {
			t.Errorf("%s: deleted %v, want %v", tc.name, got, want)
		}
	}
	if s := h.svc.Stats()[proofline.KindDocument]; s.Started != 0 {
		t.Errorf("started %d", s.Started)
	}
}

// A capture id is 32 lower-case hex digits; anything else is named, and no
// image is deleted for it.
func TestDocumentStartCaptureID(t *testing.T) {
	t.Parallel()
	h, b := docHarness(t)
	c := capture(t, h, context.Background())
	for id, msg := range map[string]string{
		"":                       "is required",
		strings.ToUpper(c.ID):    "is not a capture id",
		c.ID[:31]:                "is not a capture id",
		c.ID + "0":               "is not a capture id",
		strings.Repeat("g", 32):  "is not a capture id",
		"../" + c.ID[:29]:        "is not a capture id",
		strings.Repeat("0", 300): "is not a capture id",
	} {
		r := docRequest(c)
		r.CaptureID = id
		_, err := h.svc.StartDocument(context.Background(), r)
		if got := fieldErrors(t, err)["capture_id"]; got != msg {
			t.Errorf("capture id %q: %q, want %q", id, got, msg)
		}
	}
	if d := b.deletes(); len(d) != 0 {
		t.Errorf("deleted %v for malformed capture ids", d)
	}
	h.svc.DiscardCapture(context.Background(), strings.ToUpper(c.ID))
	if d := b.deletes(); len(d) != 0 {
		t.Errorf("discard of a malformed id deleted %v", d)
	}
	h.svc.DiscardCapture(context.Background(), c.ID)
	if d := b.deletes(); !slices.Equal(d, []string{c.ID + "/front", c.ID + "/back", c.ID + "/selfie"}) {
		t.Errorf("discard deleted %v", d)
	}
}

// A capture is another tenant's to start only if it issued it: another
// tenant's (or an unknown) capture is not found and its images stay. The
// record of who issued it outlives the upload URLs by a minute.
func TestDocumentCaptureTenancy(t *testing.T) {
	t.Parallel()
	h, b := docHarness(t)
	a := tenant.With(context.Background(), "idp-a")
	other := tenant.With(context.Background(), "idp-b")
	c := capture(t, h, a)
	_, err := h.svc.StartDocument(other, docRequest(c))
	wantCode(t, err, proofline.ENOTFOUND)
	unknown := docRequest(c)
	unknown.CaptureID = strings.Repeat("0", 32)
	_, err = h.svc.StartDocument(a, unknown)
	wantCode(t, err, proofline.ENOTFOUND)
	if d := b.deletes(); len(d) != 0 {
		t.Errorf("refusing another tenant's capture deleted %v", d)
	}
	h.clk.Advance(15*time.Minute + 59*time.Second) // the URLs expired 59 s ago
	if _, err := h.svc.StartDocument(a, docRequest(c)); err != nil {
		t.Fatalf("start within the grace minute: %v", err)
	}
	late := capture(t, h, a)
	h.clk.Advance(16 * time.Minute)
	_, err = h.svc.StartDocument(a, docRequest(late))
	wantCode(t, err, proofline.ENOTFOUND)
}

// A capture issued while its owner record cannot be stored is not handed
// out; a start whose owner record cannot be read is refused as unavailable.
func TestDocumentCaptureRecordsDown(t *testing.T) {
	t.Parallel()
	b := &blobs{}
	capDrv := &flakyDriver{}
	h := newHarness(t, func(h *harness, o *proofing.Options) {
		o.Blobs = blobstore.New(b, blobstore.Options{Now: h.clk.Now})
		capDrv.Driver = resultstore.NewMemory(resultstore.MemoryOptions{Now: h.clk.Now, SweepInterval: -1})
		recs := resultstore.NewRecords(capDrv, h.ring, "capture")
		t.Cleanup(func() { _ = recs.Close() })
		o.Captures = recs
	})
	c := capture(t, h, context.Background())
	capDrv.setFail("get", errDown)
	_, err := h.svc.StartDocument(context.Background(), docRequest(c))
	wantCode(t, err, proofline.EUNAVAILABLE)
	capDrv.setFail("create", errDown)
	_, err = h.svc.NewCapture(context.Background())
	wantCode(t, err, proofline.EUNAVAILABLE)
}

// Images of a refused start that cannot be deleted are logged, by capture,
// side and code (the sweep removes them later).
func TestDocumentRefusedImagesNotDeletedLogged(t *testing.T) {
	t.Parallel()
	h, b := docHarness(t)
	c := capture(t, h, context.Background())
	b.mu.Lock()
	b.failDelete = errDown
	b.mu.Unlock()
	r := docRequest(c)
	r.EncryptionKey = ""
	if _, err := h.svc.StartDocument(context.Background(), r); err == nil {
		t.Fatal("invalid start accepted")
	}
	lines := h.logs.Lines(t, "refused capture: image not deleted")
	if len(lines) != 3 {
		t.Fatalf("log lines %v, want one per side", lines)
	}
	for i, side := range []string{"front", "back", "selfie"} {
		if lines[i]["capture_id"] != c.ID || lines[i]["side"] != side || lines[i]["code"] != proofline.EUNAVAILABLE {
			t.Errorf("log line %v", lines[i])
		}
	}
}

// A document start the store refuses (down) deletes the capture's images:
// a retry is a new capture.
func TestDocumentStartStoreDownDiscardsImages(t *testing.T) {
	t.Parallel()
	h, b := docHarness(t)
	c := capture(t, h, context.Background())
	h.drv.setFail("create", errDown)
	_, err := h.svc.StartDocument(context.Background(), docRequest(c))
	wantCode(t, err, proofline.EUNAVAILABLE)
	if d := b.deletes(); len(d) != 3 {
		t.Errorf("deleted %v, want the capture's three images", d)
	}
}
