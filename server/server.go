// Package server is proofline's HTTP layer over a proofing.Service: the JSON
// API for IdP back ends (/api/v1), the worker callback receiver
// (/api/proofing_results), the local blob store's upload endpoint, and health.
// It is the only place that maps application error codes to HTTP status.
//
// An IdP written in Go can mount the parts it needs on its own mux with
// MountAPI, MountCallbacks and MountUploads, or serve everything with Handler.
package server

import (
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/proofline/proofline/proofing"
	"github.com/proofline/proofline/proofing/verification"
	"github.com/proofline/proofline/tenant"
)

// Options configure a Server.
type Options struct {
	// APIKeys are the bearer keys accepted on /api/v1 (config api_keys),
	// each its own tenant; used only when Clients is nil.
	APIKeys []string
	// Clients are the API clients (config api_clients and api_keys): their
	// keys are accepted on /api/v1, each under its client's tenant.
	Clients *tenant.Registry
	// Sessions serves /api/v1/verification-sessions; nil: those routes are
	// not mounted.
	Sessions *verification.Service
	// Uploads serves PUT /uploads/{capture_id}/{side} for the local blob
	// store; nil when uploads go elsewhere (S3).
	Uploads http.Handler
	// MaxCallbackBytes bounds a callback body. Default 1 MiB.
	MaxCallbackBytes int64
	// MaxRequestBytes bounds a JSON API request body. Default 64 KiB.
	MaxRequestBytes int64
	Logger          *slog.Logger
}

// Server serves proofline over HTTP.
type Server struct {
	svc     *proofing.Service
	opts    Options
	log     *slog.Logger
	clients *tenant.Registry
}

// New returns a Server over svc.
func New(svc *proofing.Service, opts Options) *Server {
	if opts.MaxCallbackBytes <= 0 {
		opts.MaxCallbackBytes = 1 << 20
	}
	if opts.MaxRequestBytes <= 0 {
		opts.MaxRequestBytes = 64 << 10
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	clients := opts.Clients
	if clients == nil {
		var cs []tenant.Client
		for _, k := range opts.APIKeys {
			cs = append(cs, tenant.KeyClient(k))
		}
		var err error
		// Only keys matter here (the origin is for verification sessions,
		// which need Clients).
		if clients, err = tenant.New(cs, "http://127.0.0.1"); err != nil {
			panic("server: " + err.Error())
		}
	}
	return &Server{svc: svc, opts: opts, log: opts.Logger, clients: clients}
}

// Handler serves every route: the JSON API, callbacks, uploads and /healthz,
// with request ids, access logs and panic recovery.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	s.Mount(mux)
	mux.HandleFunc("GET /{$}", s.Home)
	return s.Middleware(mux)
}

// Mount mounts the JSON API, callbacks, uploads and /healthz on mux, for a
// caller that adds its own pages and wraps the mux in Middleware.
func (s *Server) Mount(mux *http.ServeMux) {
	s.MountAPI(mux)
	s.MountCallbacks(mux)
	s.MountUploads(mux)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
}

// MountUploads mounts the local blob store's upload endpoint, if any.
func (s *Server) MountUploads(mux *http.ServeMux) {
	if s.opts.Uploads != nil {
		mux.Handle("/uploads/{capture_id}/{side}", s.opts.Uploads)
	}
}

// Home is a plain status page for GET /.
func (s *Server) Home(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write([]byte(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>proofline</title></head>
<body><h1>proofline is running</h1>
<p>The JSON API is at <code>/api/v1</code>; workers call back at <code>/api/proofing_results</code>.</p></body></html>
`))
}

// Middleware adds a request id (X-Request-Id), one JSON access log line per
// request (method, route, status, bytes, duration; never the query string,
// which may hold an upload signature) and panic recovery.
func (s *Server) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get("X-Request-Id")
		if !validRequestID(id) {
			var b [8]byte
			_, _ = rand.Read(b[:])
			id = hex.EncodeToString(b[:])
		}
		w.Header().Set("X-Request-Id", id)
		rw := &recorder{ResponseWriter: w, status: http.StatusOK}
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				// The panic value may hold request data: log where, not what.
				s.log.Error("panic serving request", slog.String("request_id", id), slog.String("stack", string(debug.Stack())))
				if !rw.wrote {
					writeJSON(rw, http.StatusInternalServerError, errorBody("internal", "internal error"))
				}
			}
			logAccess(r.Context(), s.log,
				slog.String("request_id", id), slog.String("method", r.Method), slog.String("route", route(r)),
				slog.Int("status", rw.status), slog.Int64("bytes", rw.bytes), slog.Duration("duration", time.Since(start)))
		}()
		next.ServeHTTP(rw, r)
	})
}

// route is the matched pattern, or the path's first segment when none matched,
// so access logs never carry a query string and stay low-cardinality.
func route(r *http.Request) string {
	if r.Pattern != "" {
		return r.Pattern
	}
	p := r.URL.Path
	if i := strings.IndexByte(p[min(1, len(p)):], '/'); i >= 0 {
		p = p[:i+1] + "/…"
	}
	if len(p) > 64 {
		p = p[:64]
	}
	return p
}

func validRequestID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

type recorder struct {
	http.ResponseWriter
	status int
	bytes  int64
	wrote  bool
}

func (r *recorder) WriteHeader(code int) {
	if !r.wrote {
		r.status = code
		r.wrote = true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	r.wrote = true
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
