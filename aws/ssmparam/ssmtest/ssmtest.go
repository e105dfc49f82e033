// Package ssmtest is a local HTTP endpoint speaking the SSM Parameter Store
// JSON protocol (X-Amz-Target AmazonSSM.GetParameter, GetParameters and
// GetParametersByPath), for tests: there is no SSM emulator to run. It
// keeps SecureString parameters in memory, returns their value only when
// WithDecryption is true (a placeholder otherwise, as KMS ciphertext would
// be), refuses requests without a SigV4 Authorization header, and records
// every call.
package ssmtest

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
)

// Call is one request the server answered.
type Call struct {
	Target         string // e.g. "GetParameter"
	Names          []string
	Path           string
	WithDecryption bool
}

// Server is a running fake Parameter Store.
type Server struct {
	*httptest.Server

	mu     sync.Mutex
	params map[string]string
	calls  []Call
}

// Start starts a server on 127.0.0.1 holding params (full name → value) and
// closes it when the test ends.
func Start(t testing.TB, params map[string]string) *Server {
	s := &Server{params: map[string]string{}}
	for k, v := range params {
		s.params[k] = v
	}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

// Set adds or replaces a parameter.
func (s *Server) Set(name, value string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.params[name] = value
}

// Delete removes a parameter.
func (s *Server) Delete(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.params, name)
}

// Calls returns the calls so far.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

// Encrypted is what a SecureString reads as without decryption.
const Encrypted = "ENCRYPTED-WITHOUT-DECRYPTION"

type param struct {
	Name    string `json:"Name"`
	Type    string `json:"Type"`
	Value   string `json:"Value"`
	Version int    `json:"Version"`
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	target, ok := strings.CutPrefix(r.Header.Get("X-Amz-Target"), "AmazonSSM.")
	if r.Method != http.MethodPost || !ok {
		fail(w, 400, "UnknownOperationException", "unknown operation")
		return
	}
	if !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 Credential=") {
		fail(w, 400, "MissingAuthenticationTokenException", "missing signature")
		return
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	var in struct {
		Name           string   `json:"Name"`
		Names          []string `json:"Names"`
		Path           string   `json:"Path"`
		WithDecryption bool     `json:"WithDecryption"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		fail(w, 400, "ValidationException", "bad json")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	get := func(name string) (param, bool) {
		v, ok := s.params[name]
		if !ok {
			return param{}, false
		}
		if !in.WithDecryption {
			v = Encrypted
		}
		return param{Name: name, Type: "SecureString", Value: v, Version: 1}, true
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	switch target {
	case "GetParameter":
		s.calls = append(s.calls, Call{Target: target, Names: []string{in.Name}, WithDecryption: in.WithDecryption})
		p, ok := get(in.Name)
		if !ok {
			fail(w, 400, "ParameterNotFound", "parameter not found")
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"Parameter": p})
	case "GetParameters":
		s.calls = append(s.calls, Call{Target: target, Names: in.Names, WithDecryption: in.WithDecryption})
		if len(in.Names) == 0 || len(in.Names) > 10 {
			fail(w, 400, "ValidationException", "1 to 10 names")
			return
		}
		out := struct {
			Parameters        []param  `json:"Parameters"`
			InvalidParameters []string `json:"InvalidParameters"`
		}{Parameters: []param{}, InvalidParameters: []string{}}
		for _, n := range in.Names {
			if p, ok := get(n); ok {
				out.Parameters = append(out.Parameters, p)
			} else {
				out.InvalidParameters = append(out.InvalidParameters, n)
			}
		}
		_ = json.NewEncoder(w).Encode(out)
	case "GetParametersByPath":
		s.calls = append(s.calls, Call{Target: target, Path: in.Path, WithDecryption: in.WithDecryption})
		prefix := strings.TrimSuffix(in.Path, "/") + "/"
		var names []string
		for n := range s.params {
			if rest, ok := strings.CutPrefix(n, prefix); ok && !strings.Contains(rest, "/") {
				names = append(names, n)
			}
		}
		sort.Strings(names)
		ps := []param{}
		for _, n := range names {
			p, _ := get(n)
			ps = append(ps, p)
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"Parameters": ps})
	default:
		fail(w, 400, "UnknownOperationException", "unknown operation")
	}
}

func fail(w http.ResponseWriter, status int, typ, msg string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"__type": typ, "message": msg})
}
