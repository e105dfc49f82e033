package server

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/proofline/proofline"
)

// statusOf maps application error codes to HTTP status: the only such table.
var statusOf = map[string]int{
	proofline.EINVALID:      http.StatusBadRequest,
	proofline.EUNAUTHORIZED: http.StatusUnauthorized,
	proofline.ENOTFOUND:     http.StatusNotFound,
	proofline.ECONFLICT:     http.StatusConflict,
	proofline.EGONE:         http.StatusGone,
	proofline.ETOOLARGE:     http.StatusRequestEntityTooLarge,
	proofline.EUNSUPPORTED:  http.StatusUnsupportedMediaType,
	proofline.ELIMIT:        http.StatusTooManyRequests,
	proofline.EUNAVAILABLE:  http.StatusServiceUnavailable,
	proofline.EINTERNAL:     http.StatusInternalServerError,
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func errorBody(code, msg string) map[string]errorDetail {
	return map[string]errorDetail{"error": {Code: code, Message: msg}}
}

// writeError answers err: a validation error as 400 {"errors": [...]}, any
// other as {"error": {"code", "message"}} with the code's status. Uncoded
// errors are "internal error"; no cause ever reaches the response.
func writeError(w http.ResponseWriter, err error) {
	var v *proofline.ValidationError
	if errors.As(err, &v) {
		writeValidation(w, v.Fields)
		return
	}
	code := proofline.ErrorCode(err)
	status, ok := statusOf[code]
	if !ok {
		status, code = http.StatusInternalServerError, proofline.EINTERNAL
	}
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	writeJSON(w, status, errorBody(code, proofline.ErrorMessage(err)))
}

func writeValidation(w http.ResponseWriter, fields []proofline.FieldError) {
	writeJSON(w, http.StatusBadRequest, map[string][]proofline.FieldError{"errors": fields})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
