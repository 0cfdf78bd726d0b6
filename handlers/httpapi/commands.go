package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/encours/encours/eventstore"
	"github.com/encours/encours/handlers/auth"
	"github.com/encours/encours/handlers/command"
)

// Commands executes the write routes' JSON commands for callers that are not HTTP clients —
// the Kafka ingest topic encours.commands (handlers/ingest) — through the very code of the
// routes: the same decoders, the same Idempotency-Key rules and request hash (a key used over
// HTTP and then on the topic with the same path and body is the same request), the same
// command service, the same error codes. It is safe for concurrent use.
type Commands struct {
	a   *api
	mux *http.ServeMux // the write routes only, unguarded: the caller has decided who acts
}

// CommandRequest is one command as a non-HTTP caller sends it.
type CommandRequest struct {
	// Path is the write route's path, as in "POST <Path>": /v1/invoices,
	// /v1/invoices/F1/dispute ...
	Path string
	// IdempotencyKey follows the Idempotency-Key header's rules (1..255 visible ASCII);
	// empty: none.
	IdempotencyKey string
	// CorrelationID is recorded on the events; empty or malformed: a new one.
	CorrelationID string
	// Body is the route's JSON request body.
	Body []byte
	// Actor is recorded as the events' actor.
	Actor string
}

// CommandError is a refused command: the HTTP status the route would answer and the API's
// error code, message and field.
type CommandError struct {
	Status  int
	Code    string
	Message string
	Field   string
}

func (e *CommandError) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("%d %s (%s): %s", e.Status, e.Code, e.Field, e.Message)
	}
	return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message)
}

// Retryable reports whether the refusal may pass if the same command is sent again later
// (the store was unavailable: 5xx), as opposed to a command that is wrong as written (4xx).
func (e *CommandError) Retryable() bool { return e.Status >= 500 }

// NewCommands returns the write routes of New(svc, store, opts) for non-HTTP callers.
// Options.Tokens, RateLimit and Actor do not apply: the caller names the actor.
func NewCommands(svc *command.Service, store eventstore.Store, opts Options) *Commands {
	opts.Extra = nil
	a := New(svc, store, opts).(*api)
	c := &Commands{a: a, mux: http.NewServeMux()}
	for _, rt := range a.routes() {
		if rt.perm != auth.PermRecord && rt.perm != auth.PermRegister && rt.perm != auth.PermCredit {
			continue
		}
		if !strings.HasPrefix(rt.pattern, http.MethodPost+" ") {
			continue
		}
		c.mux.Handle(rt.pattern, rt.handler)
	}
	return c
}

// Execute runs one command. A refusal is a *CommandError; the result is what the route
// answers with 201 (Replayed set when the idempotency key had been used with the same
// request).
func (c *Commands) Execute(ctx context.Context, req CommandRequest) (command.Result, error) {
	if !strings.HasPrefix(req.Path, "/v1/") {
		return command.Result{}, &CommandError{Status: http.StatusNotFound, Code: codeRouteNotFound,
			Message: fmt.Sprintf("path %q is not a write route (want /v1/...)", clip(req.Path)), Field: "path"}
	}
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, req.Path, bytes.NewReader(req.Body))
	if err != nil {
		return command.Result{}, &CommandError{Status: http.StatusBadRequest, Code: codeInvalidHeader,
			Message: fmt.Sprintf("path %q: %v", clip(req.Path), err), Field: "path"}
	}
	r.Header.Set("Content-Type", "application/json")
	if req.IdempotencyKey != "" {
		r.Header.Set("Idempotency-Key", req.IdempotencyKey)
	}
	if _, pattern := c.mux.Handler(r); pattern == "" {
		return command.Result{}, &CommandError{Status: http.StatusNotFound, Code: codeRouteNotFound,
			Message: fmt.Sprintf("no write route for POST %s", clip(req.Path)), Field: "path"}
	}
	corr := req.CorrelationID
	if !validCorrelationID(corr) {
		corr = newCorrelationID()
	}
	rctx := context.WithValue(ctx, requestInfoKey{}, &requestInfo{corr: corr, principal: auth.Principal{Name: req.Actor, Role: auth.RoleAdmin}})
	rec := &recorder{header: http.Header{}}
	c.mux.ServeHTTP(rec, r.WithContext(rctx))

	if rec.status == http.StatusCreated {
		var res command.Result
		if err := json.Unmarshal(rec.body.Bytes(), &res); err != nil {
			return command.Result{}, fmt.Errorf("httpapi: decode the route's answer: %w", err)
		}
		res.Replayed = rec.header.Get("Idempotent-Replayed") == "true"
		return res, nil
	}
	var eb errorBody
	if err := json.Unmarshal(rec.body.Bytes(), &eb); err != nil || eb.Error.Code == "" {
		return command.Result{}, &CommandError{Status: rec.status, Code: codeInternal, Message: "internal error"}
	}
	return command.Result{}, &CommandError{Status: rec.status, Code: eb.Error.Code, Message: eb.Error.Message, Field: eb.Error.Field}
}

// recorder is an in-memory http.ResponseWriter.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.body.Write(b)
}
func (r *recorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
}
