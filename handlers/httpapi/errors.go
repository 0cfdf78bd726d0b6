package httpapi

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"

	"github.com/encours/encours/domain"
)

// Codes of refusals found by the HTTP layer itself (the domain's are in domain/errors.go).
const (
	codeInvalidJSON          = "invalid_json"
	codeInvalidUTF8          = "invalid_utf8"
	codeUnknownField         = "unknown_field"
	codeBodyTooLarge         = "body_too_large"
	codeUnsupportedMediaType = "unsupported_media_type"
	codeInvalidHeader        = "invalid_header"
	codeInvalidQuery         = "invalid_query"
	codeRouteNotFound        = "route_not_found"
	codeMethodNotAllowed     = "method_not_allowed"
	codeNotReady             = "not_ready"
	codeInternal             = "internal"
)

// malformedCodes are the KindInvalid codes that mean "this request cannot be read as a
// command": 400. Every other KindInvalid code is a well-formed command the domain refuses:
// 422 (see the package doc).
var malformedCodes = map[string]bool{
	codeInvalidJSON:            true,
	codeInvalidUTF8:            true,
	codeUnknownField:           true,
	codeInvalidHeader:          true,
	codeInvalidQuery:           true,
	domain.CodeInvalidField:    true,
	domain.CodeMissingField:    true,
	domain.CodeInvalidDate:     true,
	domain.CodeUnknownCurrency: true,
	domain.CodeAmountOverflow:  true,
	domain.CodeInvalidID:       true,
	domain.CodeInvalidTerms:    true,
}

// statusByCode holds the transport refusals whose status is not their kind's.
var statusByCode = map[string]int{
	codeBodyTooLarge:         http.StatusRequestEntityTooLarge,
	codeUnsupportedMediaType: http.StatusUnsupportedMediaType,
	codeMethodNotAllowed:     http.StatusMethodNotAllowed,
	codeNotReady:             http.StatusServiceUnavailable,
	codeUnauthenticated:      http.StatusUnauthorized,
	codeForbidden:            http.StatusForbidden,
	codeRateLimited:          http.StatusTooManyRequests,
}

// statusOf maps an error to its HTTP status (package doc: the status rule).
func statusOf(err error) int {
	var e *domain.Error
	if !errors.As(err, &e) {
		return http.StatusInternalServerError
	}
	if s, ok := statusByCode[e.Code]; ok {
		return s
	}
	switch e.Kind {
	case domain.KindInvalid:
		if malformedCodes[e.Code] {
			return http.StatusBadRequest
		}
		return http.StatusUnprocessableEntity
	case domain.KindConflict:
		return http.StatusConflict
	case domain.KindNotFound:
		return http.StatusNotFound
	}
	return http.StatusInternalServerError
}

// errorBody is the API's error shape: {"error": {"code", "message", "field"}}.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

// writeError answers err. Internal errors are logged with the request's correlation id and
// shown to the client only as "internal error".
func (a *api) writeError(w http.ResponseWriter, r *http.Request, err error) {
	status := statusOf(err)
	var body errorBody
	var e *domain.Error
	if status == http.StatusInternalServerError || !errors.As(err, &e) {
		status = http.StatusInternalServerError
		body.Error = errorDetail{Code: codeInternal, Message: "internal error"}
		a.log.LogAttrs(r.Context(), slog.LevelError, "request failed",
			slog.String("correlation_id", correlationID(r.Context())),
			slog.String("method", r.Method), slog.String("route", r.Pattern),
			slog.String("error", err.Error()))
	} else {
		body.Error = errorDetail{Code: e.Code, Message: e.Message, Field: e.Field}
	}
	a.metrics.httpError(body.Error.Code)
	writeJSON(w, status, body)
}

// writeJSON writes v as the whole response body.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		// Every body is built from plain structs of this package: a marshal failure is a bug.
		panic("httpapi: marshal response: " + err.Error())
	}
	writeBytes(w, status, append(b, '\n'))
}

// The header values of every JSON answer, shared by all of them: len == cap, so that an
// Add to one answer's header copies rather than writes into another's.
var (
	headerJSON    = []string{"application/json; charset=utf-8"}[:1:1]
	headerNoSniff = []string{"nosniff"}[:1:1]
)

func writeBytes(w http.ResponseWriter, status int, b []byte) {
	h := w.Header()
	h["Content-Type"] = headerJSON // canonical keys: what Set would store, without its copy
	h["X-Content-Type-Options"] = headerNoSniff
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func invalid(code, field, format string, args ...any) error {
	return domain.FieldErrorf(domain.KindInvalid, code, field, format, args...)
}
