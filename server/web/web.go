package web

import (
	"bytes"
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/proofline/proofline"
	"github.com/proofline/proofline/blobstore"
	"github.com/proofline/proofline/proofing"
	"github.com/proofline/proofline/proofing/attempts"
	"github.com/proofline/proofline/proofing/verification"
	"github.com/proofline/proofline/resultstore"
	"github.com/proofline/proofline/tenant"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// BindImageAAD selects the image format the browser writes. false: AES-GCM
// with no additional data, the format the worker reads today. true: the
// additional data is "{capture_id}/{side}" (ImageAAD), so a front cannot be
// swapped for a back or moved to another capture; flip it together with the
// worker (docs/web.md, "Binding images to their capture").
const BindImageAAD = true

// ImageAAD is the AES-GCM additional data of one image when BindImageAAD is on.
func ImageAAD(captureID, side string) []byte { return []byte(captureID + "/" + side) }

// Options configure a Handler.
type Options struct {
	// BaseURL is the public origin of the pages (config base_url). An
	// https origin makes the cookie Secure (and __Host- prefixed) and adds HSTS.
	BaseURL string
	// SessionSecret keys the CSRF tokens; at least 32 bytes.
	SessionSecret []byte
	// Sessions stores the browser sessions (sealed under the session key
	// ring); required.
	Sessions *resultstore.Records
	// Verifications keeps the verification sessions the pages work on (the
	// hosted sessions IdPs create, and the demo's own); required.
	Verifications *verification.Service
	// PollInterval is the waiting page's polling interval
	// (poll_rate_for_verify_in_seconds). Default 3 s.
	PollInterval time.Duration
	// MaxAttempts failed attempts are allowed within AttemptWindow
	// (idv_max_attempts, idv_attempt_window_in_hours). Defaults 5 and 6 h.
	MaxAttempts   int
	AttemptWindow time.Duration
	// DisablePush turns server-sent events off: the waiting page polls.
	DisablePush bool
	Logger      *slog.Logger
	Now         func() time.Time
	// ClientIPHeader names the header a load balancer puts the client's
	// address in (config client_ip_header, e.g. X-Forwarded-For; its
	// right-most entry, the one the balancer added, is used). Empty: the
	// connection's remote address.
	ClientIPHeader string
	// Brand is what every page shows of the service (config web_*).
	Brand Brand
	// WaitBudget is how long an attempt may take
	// (async_wait_timeout_seconds); the waiting page shows progress against
	// it. Default 60 s.
	WaitBudget time.Duration
	// MaxImageBytes bounds one uploaded image (doc_auth_max_image_bytes):
	// the document page refuses a larger photo before encrypting it.
	// Default 10 MiB.
	MaxImageBytes int64
	// SandboxDocuments lets the document page pick the mock document
	// vendor's YAML files as well as images (doc_auth_vendor_default mock).
	SandboxDocuments bool
	// Uploads bounds the photo uploads of each browser session
	// (MaxPerPerson, at least the three sides of one capture) and client IP
	// (MaxPerIP, web_max_uploads_per_ip) held at once. Default: an in-memory
	// limiter of three per session and 60 per IP.
	Uploads *attempts.Limiter
	// UploadHold is how long after its upload URLs expire the images of an
	// abandoned capture may remain before the sweep removes them; its
	// uploads count against the bounds until then. Default 5 minutes.
	UploadHold time.Duration
}

// Brand is the service the pages verify people for (config web_service_name,
// web_logo_url, web_help_url, web_privacy_url, web_return_url). Empty URLs
// show no link.
type Brand struct {
	Name, LogoURL, HelpURL, PrivacyURL, ReturnURL string
}

// Handler serves the pages.
type Handler struct {
	svc     *proofing.Service
	vs      *verification.Service
	opts    Options
	log     *slog.Logger
	ss      *sessions
	origin  string
	pages   map[string]*template.Template
	msgs    *catalogue
	uploads *attempts.Limiter
	// imgSrc is the pages' img-src beyond 'self' (the logo's origin).
	imgSrc string
	// uploadOrigins are the origins of the blob store's upload URLs,
	// learned from the first capture (see uploadCSP).
	uploadMu      sync.Mutex
	uploadOrigins []string
}

// New returns a Handler over svc.
func New(svc *proofing.Service, opts Options) (*Handler, error) {
	if svc == nil || opts.Verifications == nil {
		return nil, errors.New("web: a proofing.Service and a verification.Service are required")
	}
	u, err := url.Parse(opts.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("web: BaseURL must be an http(s) origin")
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = 3 * time.Second
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = 5
	}
	if opts.AttemptWindow <= 0 {
		opts.AttemptWindow = 6 * time.Hour
	}
	if opts.WaitBudget <= 0 {
		opts.WaitBudget = time.Minute
	}
	if opts.MaxImageBytes <= 0 {
		opts.MaxImageBytes = blobstore.DefaultMaxBytes
	}
	if opts.UploadHold <= 0 {
		opts.UploadHold = 5 * time.Minute
	}
	if opts.Brand.Name == "" {
		opts.Brand.Name = "proofline"
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	ss, err := newSessions(opts.Sessions, opts.SessionSecret, u.Scheme == "https", opts.Now)
	if err != nil {
		return nil, err
	}
	uploads := opts.Uploads
	if uploads == nil {
		if uploads, err = attempts.New(attempts.NewMemory(opts.Now), attempts.Options{
			MaxPerPerson: len(blobstore.Sides()), MaxPerIP: 60, HashKey: derive(opts.SessionSecret, "proofline-web-uploads-v1"),
		}); err != nil {
			return nil, err
		}
	}
	msgs, err := loadCatalogue()
	if err != nil {
		return nil, err
	}
	h := &Handler{svc: svc, vs: opts.Verifications, opts: opts, log: opts.Logger, ss: ss, origin: u.Scheme + "://" + u.Host,
		pages: map[string]*template.Template{}, msgs: msgs, uploads: uploads}
	if l, err := url.Parse(opts.Brand.LogoURL); err == nil && l.Host != "" && l.Scheme == "https" {
		h.imgSrc = "https://" + l.Host
	}
	funcs := template.FuncMap{"inc": func(i int) int { return i + 1 }}
	layout := template.Must(template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/partials.html"))
	names, _ := fs.Glob(templateFS, "templates/*.html")
	for _, n := range names {
		name := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if name == "layout" || name == "partials" {
			continue
		}
		h.pages[name] = template.Must(template.Must(layout.Clone()).ParseFS(templateFS, n))
	}
	return h, nil
}

// Mount registers the pages on mux, including GET / (the start page).
func (h *Handler) Mount(mux *http.ServeMux) {
	mux.Handle("GET /{$}", h.page(h.start))
	mux.Handle("GET /verify/session/{id}", h.pageWith(h.enter, false))
	mux.Handle("POST /verify/start", h.post(h.postStart))
	mux.Handle("GET /verify/document", h.page(h.document))
	mux.Handle("POST /verify/capture", h.post(h.postCapture))
	mux.Handle("POST /verify/document", h.post(h.postDocument))
	mux.Handle("GET /verify/wait", h.page(h.wait))
	mux.Handle("GET /verify/events/{result_id}", h.secured(http.HandlerFunc(h.events)))
	mux.Handle("GET /verify/status/{result_id}", h.secured(http.HandlerFunc(h.status)))
	mux.Handle("GET /verify/info", h.page(h.info))
	mux.Handle("POST /verify/info", h.post(h.postInfo))
	mux.Handle("GET /verify/phone", h.page(h.phone))
	mux.Handle("POST /verify/phone", h.post(h.postPhone))
	mux.Handle("GET /verify/done", h.page(h.done))
	mux.Handle("GET /verify/timeout", h.page(h.screen(screenTimeout)))
	mux.Handle("GET /verify/error", h.page(h.screen(screenError)))
	mux.Handle("GET /verify/busy", h.page(h.screen(screenBusy)))
	mux.Handle("GET /verify/limit", h.page(h.limit))
	mux.Handle("POST /verify/retry", h.post(h.postRetry))
	static, _ := fs.Sub(staticFS, "static")
	files := http.FileServerFS(static)
	mux.Handle("GET /static/", h.secured(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=300")
		http.StripPrefix("/static", files).ServeHTTP(w, r)
	})))
	// The icon: linked from every page (SVG) and at /favicon.ico, which
	// browsers ask for by themselves. It rarely changes: cached for 30 days.
	icon := func(name, ctype string) http.Handler {
		return h.secured(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Cache-Control", "public, max-age=2592000")
			w.Header().Set("Content-Type", ctype) // not the host's mime.types
			http.ServeFileFS(w, r, static, name)
		}))
	}
	mux.Handle("GET /static/favicon.svg", icon("favicon.svg", "image/svg+xml"))
	mux.Handle("GET /favicon.ico", icon("favicon.ico", "image/x-icon"))
}

// csp is the Content-Security-Policy of every page. connect-src adds the
// origins of the upload URLs a page hands out; img-src the logo's origin
// and, on the document page, blob: (the previews of the chosen photos,
// which never leave the browser).
func csp(connect []string, img ...string) string {
	join := func(extra []string) string {
		src := "'self'"
		for _, c := range extra {
			if c != "" && !slices.Contains(strings.Fields(src), c) {
				src += " " + c
			}
		}
		return src
	}
	return "default-src 'none'; script-src 'self'; style-src 'self'; img-src " + join(img) + "; connect-src " + join(connect) +
		"; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
}

// secured sets the headers every response of the pages carries.
func (h *Handler) secured(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", csp(nil, h.imgSrc))
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Cross-Origin-Opener-Policy", "same-origin")
		hd.Set("Cache-Control", "no-store")
		if h.ss.secure {
			hd.Set("Strict-Transport-Security", "max-age=31536000")
		}
		next.ServeHTTP(w, r)
	})
}

// request is one page request with its session.
type request struct {
	w http.ResponseWriter
	r *http.Request
	s *session
	l *lang
}

// T is the message key in the request's language.
func (q *request) T(key string, args ...any) string { return q.l.T(key, args...) }

// langCookie keeps the language the person chose with the switcher for as
// long as the browser runs: a session that is not stored (the start page,
// the pages after a session ended) has nowhere else to keep it.
const langCookie = "proofline_lang"

// langOf is the language of a request: the session's locale (the
// verification session's, or the person's choice), then the language
// cookie, then Accept-Language.
func (h *Handler) langOf(r *http.Request, s *session) *lang {
	locale := ""
	if s != nil {
		locale = s.locale()
	}
	if c, err := r.Cookie(langCookie); err == nil && locale == "" {
		locale = c.Value
	}
	return h.msgs.lang(h.msgs.match(locale, r.Header.Get("Accept-Language")))
}

func (h *Handler) page(f func(*request)) http.Handler { return h.pageWith(f, true) }

// pageWith serves a GET page; with endOver, a hosted session past its
// lifetime sends the person back to the IdP instead of running f. ?lang=es
// (the language switcher's links) sets the session's language and
// redirects to the same page without it.
func (h *Handler) pageWith(f func(*request), endOver bool) http.Handler {
	return h.secured(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := h.ss.load(r)
		if err != nil {
			h.unavailable(w, r, h.langOf(r, nil), err)
			return
		}
		q := &request{w: w, r: r, l: h.langOf(r, s)}
		q.use(s)
		if s.over && endOver {
			h.ended(q)
			return
		}
		// (Not on the one-time link, whose query is its token.)
		if code := r.URL.Query().Get("lang"); code != "" && endOver {
			if t, ok := supported(code); ok {
				s.setLocale(t.String())
				q.l = h.msgs.lang(t)
				http.SetCookie(w, &http.Cookie{Name: langCookie, Value: t.String(), Path: "/", HttpOnly: true, Secure: h.ss.secure, SameSite: http.SameSiteLaxMode})
			}
			h.redirect(q, r.URL.Path)
			return
		}
		f(q)
	}))
}

// use makes s the request's session: every service call of the request runs
// under its tenant, and the page speaks its language when it has one (else
// the request's language stays).
func (q *request) use(s *session) {
	q.s = s
	q.r = q.r.WithContext(tenant.With(q.r.Context(), s.Tenant))
	if q.l != nil && s.Locale != "" && s.Locale != q.l.Code {
		q.l = q.l.c.lang(q.l.c.match(s.Locale, ""))
	}
}

// unavailable answers a request whose session cannot be read (the store is
// down): 503, nothing changed.
func (h *Handler) unavailable(w http.ResponseWriter, r *http.Request, l *lang, err error) {
	h.log.LogAttrs(r.Context(), slog.LevelWarn, "web: session store unavailable", slog.String("code", proofline.ErrorCode(err)))
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Content-Language", l.Code)
	w.Header().Set("Retry-After", "1")
	w.WriteHeader(http.StatusServiceUnavailable)
	_, _ = w.Write([]byte(l.T("common.store_unavailable") + "\n"))
}

// post checks the CSRF token (and Origin and Sec-Fetch-Site when the
// browser sends them) before a state-changing request runs.
func (h *Handler) post(f func(*request)) http.Handler {
	return h.secured(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		s, err := h.ss.load(r)
		if err != nil {
			h.unavailable(w, r, h.langOf(r, nil), err)
			return
		}
		l := h.langOf(r, s)
		// Defense in depth beside the token. Referrer-Policy no-referrer
		// makes browsers send "Origin: null" on form posts, so Sec-Fetch-Site
		// is the header that tells a cross-site post apart.
		if o := r.Header.Get("Origin"); o != "" && o != "null" && o != h.origin {
			h.forbidden(w, l)
			return
		}
		if sfs := r.Header.Get("Sec-Fetch-Site"); sfs != "" && sfs != "same-origin" {
			h.forbidden(w, l)
			return
		}
		if err := r.ParseForm(); err != nil || !h.ss.validCSRF(s, r.PostForm.Get("csrf_token")) {
			h.forbidden(w, l)
			return
		}
		q := &request{w: w, r: r, l: l}
		q.use(s)
		if s.over {
			h.ended(q)
			return
		}
		f(q)
	}))
}

func (h *Handler) forbidden(w http.ResponseWriter, l *lang) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Content-Language", l.Code)
	w.WriteHeader(http.StatusForbidden)
	_, _ = w.Write([]byte(l.T("common.form_expired") + "\n"))
}

// view is what every template gets.
type view struct {
	Title   string
	CSRF    string
	Refresh int // seconds; a <noscript> meta refresh when > 0
	// Errors are the page's messages by field, in the person's language;
	// "general" belongs to no field. Fields orders the summary's links.
	Errors    map[string][]string
	Fields    []string
	Data      any
	Step      int // 1..4 for the progress line, 0 for none
	StepNames []string
	Lang      *lang
	Languages []langLink
	Brand     Brand
	// Summary is the error summary (general messages, then each field's
	// first message linked to its input); General the messages of no field.
	Summary []summaryItem
	General []string
}

type summaryItem struct{ Field, Text string }

// langLink is one entry of the language switcher.
type langLink struct {
	Code, Name, Href string
	Current          bool
}

// T is the message key in the page's language (templates: {{.T "key"}}).
func (v view) T(key string, args ...any) string { return v.Lang.T(key, args...) }

// render saves the session and writes page name with status.
func (h *Handler) render(q *request, status int, name string, v view) {
	if err := h.ss.save(q.r.Context(), q.w, q.s); err != nil {
		h.saveFailed(q, err)
		return
	}
	v.CSRF = h.ss.csrf(q.s)
	if o := returnOrigin(q.s.ReturnURL); o != "" {
		// A form's redirect chain may end at the IdP's return_url (the
		// last step, a canceled session): browsers check form-action on
		// each redirect.
		hd := q.w.Header()
		hd.Set("Content-Security-Policy", strings.Replace(hd.Get("Content-Security-Policy"), "form-action 'self'", "form-action 'self' "+o, 1))
	}
	v.Lang = q.l
	v.StepNames = []string{q.T("steps.document"), q.T("steps.info"), q.T("steps.phone"), q.T("steps.done")}
	v.Brand = h.opts.Brand
	if ru := q.s.returnURL(); ru != "" {
		v.Brand.ReturnURL = ru
	}
	for _, t := range languages {
		l := h.msgs.lang(t)
		v.Languages = append(v.Languages, langLink{Code: l.Code, Name: l.T("language.name"), Href: q.r.URL.Path + "?lang=" + l.Code, Current: l.Code == q.l.Code})
	}
	v.General = v.Errors["general"]
	for _, g := range v.General {
		v.Summary = append(v.Summary, summaryItem{Text: g})
	}
	for _, f := range v.Fields {
		if msgs := v.Errors[f]; len(msgs) > 0 {
			v.Summary = append(v.Summary, summaryItem{Field: f, Text: msgs[0]})
		}
	}
	var buf bytes.Buffer
	if err := h.pages[name].ExecuteTemplate(&buf, "layout.html", v); err != nil {
		h.fail(q, err)
		return
	}
	q.w.Header().Set("Content-Type", "text/html; charset=utf-8")
	q.w.Header().Set("Content-Language", q.l.Code)
	q.w.WriteHeader(status)
	_, _ = q.w.Write(buf.Bytes())
}

// redirect saves the session and sends the browser to path (303).
func (h *Handler) redirect(q *request, path string) {
	if err := h.ss.save(q.r.Context(), q.w, q.s); err != nil {
		h.saveFailed(q, err)
		return
	}
	http.Redirect(q.w, q.r, path, http.StatusSeeOther)
}

// returnOrigin is the origin of a return URL ("" for none).
func returnOrigin(raw string) string {
	u, err := url.Parse(raw)
	if raw == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

// saveFailed answers a request whose session could not be saved: another
// request changed it meanwhile (reload the page), or the store is down.
func (h *Handler) saveFailed(q *request, err error) {
	if errors.Is(err, errSessionChanged) {
		target := "/"
		if q.r.Method == http.MethodGet {
			target = q.r.URL.Path
		}
		http.Redirect(q.w, q.r, target, http.StatusSeeOther)
		return
	}
	if code := proofline.ErrorCode(err); code == proofline.EUNAVAILABLE {
		h.unavailable(q.w, q.r, q.l, err)
		return
	}
	h.fail(q, err)
}

func (h *Handler) fail(q *request, err error) {
	// Errors here carry no PII (template and cookie errors name no values).
	h.log.LogAttrs(q.r.Context(), slog.LevelError, "web page failed", slog.String("error", err.Error()))
	q.w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	q.w.Header().Set("Content-Language", q.l.Code)
	q.w.WriteHeader(http.StatusInternalServerError)
	_, _ = q.w.Write([]byte(q.T("common.internal_error") + "\n"))
}
