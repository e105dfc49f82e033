package client

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/proofline/proofline"
)

// Sentinels that errors.Is matches against an *Error (by HTTP status) or a
// *ValidationError (ErrInvalid).
var (
	ErrInvalid      = errors.New("proofline: invalid request")          // 400
	ErrUnauthorized = errors.New("proofline: not authorized")           // 401
	ErrNotFound     = errors.New("proofline: not found")                // 404
	ErrConflict     = errors.New("proofline: conflict")                 // 409
	ErrGone         = errors.New("proofline: gone")                     // 410
	ErrTooLarge     = errors.New("proofline: too large")                // 413
	ErrUnsupported  = errors.New("proofline: unsupported media type")   // 415
	ErrRateLimited  = errors.New("proofline: too many attempts")        // 429
	ErrUnavailable  = errors.New("proofline: unavailable, retry later") // 503
)

var sentinelOf = map[int]error{
	http.StatusBadRequest:            ErrInvalid,
	http.StatusUnauthorized:          ErrUnauthorized,
	http.StatusNotFound:              ErrNotFound,
	http.StatusConflict:              ErrConflict,
	http.StatusGone:                  ErrGone,
	http.StatusRequestEntityTooLarge: ErrTooLarge,
	http.StatusUnsupportedMediaType:  ErrUnsupported,
	http.StatusTooManyRequests:       ErrRateLimited,
	http.StatusServiceUnavailable:    ErrUnavailable,
}

// Error is a refusal by the server (or by an upload URL's host): the
// {"error": {"code", "message"}} answer, or only the status when the
// answer had no such body.
type Error struct {
	// StatusCode is the HTTP status.
	StatusCode int
	// Code is the server's stable error code (invalid, unauthorized,
	// not_found, conflict, gone, too_large, unsupported, limit, unavailable,
	// internal); "" when the answer carried none.
	Code string
	// Message is the server's message, safe to show; never a submitted value.
	Message string
	// RetryAfter is the answer's Retry-After (503 always carries one); 0 when absent.
	RetryAfter time.Duration
	// RequestID is the answer's X-Request-Id, for the server's logs.
	RequestID string
}

func (e *Error) Error() string {
	s := "proofline: " + strconv.Itoa(e.StatusCode)
	if e.Code != "" {
		s += " " + e.Code
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.RequestID != "" {
		s += " (request " + e.RequestID + ")"
	}
	return s
}

// Is matches the sentinel of e's status.
func (e *Error) Is(target error) bool {
	s, ok := sentinelOf[e.StatusCode]
	return ok && s == target
}

// FieldError is one bad field: its name (as the request or applicant field
// is named) and what is wrong, never the value.
type FieldError = proofline.FieldError

// ValidationError is a 400 answer naming each bad field.
type ValidationError struct {
	Fields    []FieldError
	RequestID string
}

func (e *ValidationError) Error() string {
	parts := make([]string, 0, len(e.Fields))
	for _, f := range e.Fields {
		parts = append(parts, f.Field+": "+f.Message)
	}
	return "proofline: invalid request: " + strings.Join(parts, "; ")
}

// Is matches ErrInvalid.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalid }

// Field returns the message about field, or "".
func (e *ValidationError) Field(field string) string {
	for _, f := range e.Fields {
		if f.Field == field {
			return f.Message
		}
	}
	return ""
}

// RetryAfter reports how long err asks to wait before trying again: an
// *Error's RetryAfter, if it has one.
func RetryAfter(err error) (time.Duration, bool) {
	var e *Error
	if errors.As(err, &e) && e.RetryAfter > 0 {
		return e.RetryAfter, true
	}
	return 0, false
}

// errorOf reads a refusal. Only the documented error bodies are read; any
// other body (a proxy's page) is left out.
func errorOf(resp *http.Response, body []byte) error {
	id := resp.Header.Get("X-Request-Id")
	if resp.StatusCode == http.StatusBadRequest {
		var v struct {
			Errors []FieldError `json:"errors"`
		}
		if json.Unmarshal(body, &v) == nil && len(v.Errors) > 0 {
			return &ValidationError{Fields: v.Errors, RequestID: id}
		}
	}
	e := &Error{StatusCode: resp.StatusCode, RequestID: id, RetryAfter: retryAfter(resp.Header.Get("Retry-After"))}
	var b struct {
		Error *struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &b) == nil && b.Error != nil {
		e.Code, e.Message = b.Error.Code, b.Error.Message
	} else {
		e.Message = strings.ToLower(http.StatusText(resp.StatusCode))
	}
	return e
}

// retryAfter reads a Retry-After value: seconds or an HTTP date.
func retryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return d
		}
	}
	return 0
}
