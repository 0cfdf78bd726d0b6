package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"mime"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/encours/encours/domain"
)

// readBody checks the Content-Type, reads the body within the size limit and checks that it
// is UTF-8. An empty body reads as "{}" (routes whose fields are all optional take none) and
// needs no Content-Type.
func (a *api) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	r.Body = http.MaxBytesReader(w, r.Body, a.maxBodyBytes)
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, domain.Errorf(domain.KindInvalid, codeBodyTooLarge, "request body above %d bytes", tooLarge.Limit)
		}
		return nil, invalid(codeInvalidJSON, "", "read request body: %v", err)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return []byte("{}"), nil
	}
	if err := checkContentType(r.Header.Get("Content-Type")); err != nil {
		return nil, err
	}
	if !utf8.Valid(body) {
		return nil, invalid(codeInvalidUTF8, "", "request body is not valid UTF-8")
	}
	return body, nil
}

// checkContentType accepts application/json, with no parameter but charset=utf-8.
func checkContentType(v string) error {
	refuse := domain.Errorf(domain.KindInvalid, codeUnsupportedMediaType, "Content-Type %q: want application/json", v)
	if v == "" {
		return refuse
	}
	mt, params, err := mime.ParseMediaType(v)
	if err != nil || mt != "application/json" {
		return refuse
	}
	for k, val := range params {
		if k != "charset" || !strings.EqualFold(val, "utf-8") {
			return refuse
		}
	}
	return nil
}

// decodeStrict decodes one JSON object into v, refusing unknown fields, values of the wrong
// JSON type and anything after the object, each with the field named.
func decodeStrict(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return invalid(codeInvalidJSON, "", "request body: data after the JSON object")
	}
	// encoding/json matches field names without regard to case and keeps the last of two
	// equal keys: {"amount":1000,"Amount":5} would record 5. Field names are exact and once.
	return checkKeys(json.NewDecoder(bytes.NewReader(body)), reflect.TypeOf(v))
}

// checkKeys walks one JSON value (already known to decode into t) and refuses an object key
// that is not exactly one of t's JSON field names, or that appears twice in one object.
// Values whose type is not a struct, or a slice of them, are skipped.
func checkKeys(dec *json.Decoder, t reflect.Type) error {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	tok, err := dec.Token()
	if err != nil {
		return jsonError(err)
	}
	switch tok {
	case json.Delim('{'):
		var names map[string]reflect.Type
		if t != nil && t.Kind() == reflect.Struct {
			names = jsonFields(t)
		}
		seen := map[string]bool{}
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return jsonError(err)
			}
			key, _ := kt.(string)
			if seen[key] {
				return invalid(codeInvalidJSON, key, "field %q appears twice", key)
			}
			seen[key] = true
			var ft reflect.Type
			if names != nil {
				var known bool
				if ft, known = names[key]; !known {
					return invalid(codeUnknownField, key, "unknown field %q (field names are case-sensitive)", key)
				}
			}
			if err := checkKeys(dec, ft); err != nil {
				return err
			}
		}
		_, err = dec.Token() // '}'
	case json.Delim('['):
		var et reflect.Type
		if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) && t.Elem().Kind() != reflect.Uint8 {
			et = t.Elem()
		}
		for dec.More() {
			if err := checkKeys(dec, et); err != nil {
				return err
			}
		}
		_, err = dec.Token() // ']'
	}
	if err != nil {
		return jsonError(err)
	}
	return nil
}

// jsonFields maps a struct's JSON field names to their types.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for f := range t.Fields() {
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		ft := f.Type
		if f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.Uint8 {
			ft = nil // rawValue and []byte: opaque
		}
		out[name] = ft
	}
	return out
}

func jsonError(err error) error {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		return invalid(codeInvalidJSON, "", "request body is not valid JSON at byte %d: %v", syntax.Offset, err)
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return invalid(codeInvalidJSON, "", "request body: unexpected end of JSON")
	case errors.As(err, &typ):
		if typ.Field == "" {
			return invalid(codeInvalidJSON, "", "request body must be a JSON object, not %s", typ.Value)
		}
		return invalid(domain.CodeInvalidField, typ.Field, "%s: %s is not allowed here", typ.Field, typ.Value)
	}
	var de *domain.Error
	if errors.As(err, &de) {
		return de
	}
	// encoding/json reports an unknown field only by its message.
	if name, ok := strings.CutPrefix(err.Error(), `json: unknown field "`); ok {
		name = strings.TrimSuffix(name, `"`)
		return invalid(codeUnknownField, name, "unknown field %q", name)
	}
	return invalid(codeInvalidJSON, "", "request body: %v", err)
}

// rawValue keeps a field's JSON text as given, so that its type is checked here, with the
// field's full path in the error (allocations[2].amount), rather than by encoding/json. A
// JSON null is the same as an absent field.
type rawValue []byte

// UnmarshalJSON keeps the bytes.
func (v *rawValue) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*v = nil
		return nil
	}
	*v = append((*v)[:0], b...)
	return nil
}

func (v rawValue) present() bool { return len(v) > 0 }

// fields converts raw values into typed ones, keeping the first error: a request builder
// reads every field and checks err once.
type fields struct {
	err error
}

func (f *fields) fail(err error) {
	if f.err == nil {
		f.err = err
	}
}

// str reads a JSON string; absent gives "" (the domain names required strings itself).
func (f *fields) str(name string, v rawValue) string {
	if !v.present() {
		return ""
	}
	if v[0] != '"' {
		f.fail(invalid(domain.CodeInvalidField, name, "%s must be a JSON string", name))
		return ""
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		f.fail(invalid(domain.CodeInvalidField, name, "%s must be a JSON string", name))
		return ""
	}
	return s
}

// integer reads a JSON integer (no fraction, no exponent, no quotes) that fits in int64.
// Out of range is amount_overflow for amounts and invalid_field otherwise.
func (f *fields) integer(name string, v rawValue, required, isAmount bool) int64 {
	if !v.present() {
		if required {
			f.fail(invalid(domain.CodeMissingField, name, "%s is required", name))
		}
		return 0
	}
	s := string(v)
	if s[0] != '-' && (s[0] < '0' || s[0] > '9') || strings.ContainsAny(s, ".eE") {
		f.fail(invalid(domain.CodeInvalidField, name, "%s must be a JSON integer (minor units for amounts), got %s", name, clip(s)))
		return 0
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		if errors.Is(err, strconv.ErrRange) {
			code := domain.CodeInvalidField
			if isAmount {
				code = domain.CodeAmountOverflow
			}
			f.fail(invalid(code, name, "%s %s does not fit in 64 bits", name, clip(s)))
			return 0
		}
		f.fail(invalid(domain.CodeInvalidField, name, "%s must be a JSON integer, got %s", name, clip(s)))
		return 0
	}
	return n
}

// amount reads an amount in minor units.
func (f *fields) amount(name string, v rawValue, required bool) int64 {
	return f.integer(name, v, required, true)
}

// smallInt reads an integer that must fit in an int (levels, days, scores).
func (f *fields) smallInt(name string, v rawValue, required bool) int {
	n := f.integer(name, v, required, false)
	if n > math.MaxInt32 || n < math.MinInt32 {
		f.fail(invalid(domain.CodeInvalidField, name, "%s %d is out of range", name, n))
		return 0
	}
	return int(n)
}

// date reads YYYY-MM-DD; absent gives def (the zero Date: "not given").
func (f *fields) date(name string, v rawValue, def domain.Date) domain.Date {
	if !v.present() {
		return def
	}
	s := f.str(name, v)
	if f.err != nil {
		return domain.Date{}
	}
	d, err := domain.ParseDate(s)
	if err != nil {
		f.fail(invalid(domain.CodeInvalidDate, name, "%s %q is not a valid date (want YYYY-MM-DD)", name, clip(s)))
		return domain.Date{}
	}
	return d
}

// currency reads an ISO 4217 code; absent gives def.
func (f *fields) currency(name string, v rawValue, required bool, def domain.Currency) domain.Currency {
	if !v.present() {
		if required {
			f.fail(invalid(domain.CodeMissingField, name, "%s is required", name))
		}
		return def
	}
	s := f.str(name, v)
	if f.err != nil {
		return ""
	}
	c, err := domain.ParseCurrency(s)
	if err != nil {
		f.fail(invalid(domain.CodeUnknownCurrency, name, "unknown currency %q (want an ISO 4217 code such as EUR)", clip(s)))
		return ""
	}
	return c
}

// ids reads a list of ids.
func (f *fields) invoiceIDs(name string, vs []rawValue) []domain.InvoiceID {
	out := make([]domain.InvoiceID, len(vs))
	for i, v := range vs {
		out[i] = domain.InvoiceID(f.str(name+"["+strconv.Itoa(i)+"]", v))
	}
	return out
}

// clip shortens a value quoted in an error message.
func clip(s string) string {
	const max = 40
	if len(s) <= max {
		return s
	}
	return s[:max] + "..."
}
