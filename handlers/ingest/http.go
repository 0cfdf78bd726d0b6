package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"time"

	"github.com/encours/encours/handlers/auth"
)

// importBodyBytesMax bounds the body of POST /v1/import: importRowsMax rows of ~200 bytes.
const importBodyBytesMax = 2 << 30

// importTimeout bounds one POST /v1/import, upload and import: 10M rows at a slow 10k rows/s.
const importTimeout = 20 * time.Minute

// Codes of POST /v1/import's own refusals.
const (
	CodeImportRejected       = "import_rejected" // 422: rows refused, nothing appended
	codeInvalidQuery         = "invalid_query"
	codeUnsupportedMediaType = "unsupported_media_type"
	codeBodyTooLarge         = "body_too_large"
	codeBodyUnreadable       = "body_unreadable"
)

// Route is one served route with the permission it needs; handlers/httpapi mounts it
// (Options.Extra), as it mounts handlers/reports' routes.
type Route struct {
	Pattern    string
	Permission auth.Permission
	Handler    http.HandlerFunc
	Summary    string
	Query      []string // "name: description", for the API description
}

// HTTP serves POST /v1/import: a CSV streamed in the request body, imported with Run.
type HTTP struct {
	l       Ledger
	actorOf func(*http.Request) string
	log     *slog.Logger
	tempDir string
	// bodyBytesMax bounds a body (importBodyBytesMax; tests lower it).
	bodyBytesMax int64
}

// NewHTTP returns the import route over l. actorOf names the request's caller (recorded on
// every event); internal errors go to logger (nil: discarded), never to the client. The
// partition files go to tempDir ("": the system's).
func NewHTTP(l Ledger, actorOf func(*http.Request) string, logger *slog.Logger, tempDir string) *HTTP {
	if l == nil || actorOf == nil {
		panic("ingest: NewHTTP needs a ledger and an actor function")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &HTTP{l: l, actorOf: actorOf, log: logger, tempDir: tempDir, bodyBytesMax: importBodyBytesMax}
}

// Routes lists the import route.
func (h *HTTP) Routes() []Route {
	return []Route{{
		Pattern: "POST /v1/import", Permission: auth.PermRecord, Handler: h.importCSV,
		Summary: "Import a CSV ledger streamed in the body (Content-Type: text/csv); answers the summary and the refused rows",
		Query: []string{
			"format: generic (default) or ibm-ar",
			"dry_run: true to validate every row and append nothing",
			"continue: true to append the customers whose rows are all valid and list the others' rows",
		},
	}}
}

// ImportAnswer is the body of POST /v1/import's answers: the Report, and on a refused file
// the error in the API's shape.
type ImportAnswer struct {
	Error *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Field   string `json:"field,omitempty"`
	} `json:"error,omitempty"`
	Report
}

func (h *HTTP) importCSV(w http.ResponseWriter, r *http.Request) {
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "text/csv" || (len(params) > 0 && !(len(params) == 1 && params["charset"] == "utf-8")) {
		h.refuse(w, http.StatusUnsupportedMediaType, codeUnsupportedMediaType, "", "want Content-Type: text/csv (charset=utf-8 at most)")
		return
	}
	q := r.URL.Query()
	format := q.Get("format")
	if format == "" {
		format = "generic"
	}
	f, ok := Formats[format]
	if !ok {
		h.refuse(w, http.StatusBadRequest, codeInvalidQuery, "format", fmt.Sprintf("unknown format %q (want generic or ibm-ar)", format))
		return
	}
	opts := Options{Actor: h.actorOf(r), SizeHint: r.ContentLength, TempDir: h.tempDir}
	for name, dst := range map[string]*bool{"dry_run": &opts.DryRun, "continue": &opts.Continue} {
		if s := q.Get(name); s != "" {
			if *dst, err = strconv.ParseBool(s); err != nil {
				h.refuse(w, http.StatusBadRequest, codeInvalidQuery, name, fmt.Sprintf("%s=%q: want true or false", name, s))
				return
			}
		}
	}
	// The server's read and write timeouts are sized for JSON commands; a file of millions
	// of rows takes longer to send and to import.
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Now().Add(importTimeout))
	_ = rc.SetWriteDeadline(time.Now().Add(importTimeout))
	body := http.MaxBytesReader(w, r.Body, h.bodyBytesMax)
	open := func() (io.ReadCloser, error) { return body, nil }
	rep, err := Run(r.Context(), h.l, open, f, opts)
	var tooLarge *http.MaxBytesError
	switch {
	case err == nil:
		writeJSON(w, http.StatusOK, ImportAnswer{Report: rep})
	case errors.Is(err, ErrRejected):
		ans := ImportAnswer{Report: rep}
		ans.Error = &struct {
			Code    string `json:"code"`
			Message string `json:"message"`
			Field   string `json:"field,omitempty"`
		}{CodeImportRejected, err.Error(), ""}
		if len(rep.Errors) > 0 {
			ans.Error.Message = rep.Errors[0].Error() + " (" + err.Error() + ")"
			ans.Error.Field = rep.Errors[0].Field
		}
		writeJSON(w, http.StatusUnprocessableEntity, ans)
	case errors.As(err, &tooLarge):
		h.refuse(w, http.StatusRequestEntityTooLarge, codeBodyTooLarge, "", fmt.Sprintf("body above %d bytes; split the file", h.bodyBytesMax))
	case errors.Is(err, context.Canceled):
		h.refuse(w, 499, "canceled", "", "request canceled")
	case isBodyError(err):
		h.refuse(w, http.StatusBadRequest, codeBodyUnreadable, "", "the body could not be read")
	default:
		h.log.Error("import failed", slog.String("correlation_id", w.Header().Get("X-Correlation-Id")), slog.String("error", err.Error()))
		h.refuse(w, http.StatusInternalServerError, "internal", "", "internal error")
	}
}

// isBodyError tells a failure to read the request body (a client gone mid-upload) from an
// internal one.
func isBodyError(err error) bool {
	return errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, http.ErrBodyReadAfterClose)
}

func (h *HTTP) refuse(w http.ResponseWriter, status int, code, field, msg string) {
	var ans ImportAnswer
	ans.Error = &struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Field   string `json:"field,omitempty"`
	}{code, msg, field}
	writeJSON(w, status, struct {
		Error any `json:"error"`
	}{ans.Error})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
