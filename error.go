package proofline

import (
	"errors"
	"fmt"
)

// Application error codes. Only the HTTP layer maps them to status codes.
const (
	EINVALID      = "invalid"      // the caller sent something malformed or out of range
	EUNAUTHORIZED = "unauthorized" // missing or wrong credential
	ENOTFOUND     = "not_found"    // no such record (never existed, expired or deleted)
	ECONFLICT     = "conflict"     // the record already has an outcome
	EGONE         = "gone"         // the record's deadline has passed
	ETOOLARGE     = "too_large"    // a body or upload over its limit
	EUNSUPPORTED  = "unsupported"  // wrong content type or method
	EUNAVAILABLE  = "unavailable"  // a dependency is down or full; retry later
	ELIMIT        = "limit"        // too many attempts
	EINTERNAL     = "internal"     // anything uncoded
)

// Error is proofline's application error. Message is safe to show to a caller
// and never contains PII or secrets; Cause is for operators and never reaches
// a response.
type Error struct {
	Code    string
	Message string
	// Field names the input field at fault, for validation errors.
	Field string
	Cause error
}

func (e *Error) Error() string {
	if e.Cause != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Cause)
	}
	return e.Code + ": " + e.Message
}

func (e *Error) Unwrap() error { return e.Cause }

// Errorf returns an *Error with the given code and a formatted public message.
// Never format PII into it.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// WrapError returns an *Error that keeps cause for operators only.
func WrapError(code, message string, cause error) *Error {
	return &Error{Code: code, Message: message, Cause: cause}
}

// ErrorCode returns the code of err, or EINTERNAL when err carries none.
func ErrorCode(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the public message of err, or "internal error".
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) && e.Code != EINTERNAL {
		return e.Message
	}
	return "internal error"
}

// FieldError is one validation failure: which field and what is wrong, never
// the value.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// ValidationError collects every field error of one request.
type ValidationError struct {
	Fields []FieldError
}

func (v *ValidationError) Error() string {
	if len(v.Fields) == 0 {
		return "invalid: no fields"
	}
	s := "invalid: " + v.Fields[0].Field + ": " + v.Fields[0].Message
	if n := len(v.Fields) - 1; n > 0 {
		s += fmt.Sprintf(" (and %d more)", n)
	}
	return s
}

// Add records a failure of field.
func (v *ValidationError) Add(field, message string) {
	v.Fields = append(v.Fields, FieldError{Field: field, Message: message})
}

// Err returns v when it holds at least one field error, else nil.
func (v *ValidationError) Err() error {
	if len(v.Fields) == 0 {
		return nil
	}
	return v
}
