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
	"slices"
	"strconv"
	"strings"
	"sync"
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
	if v == "application/json" || v == "application/json; charset=utf-8" {
		return nil // what clients send, answered without parsing
	}
	refuse := func() error {
		return domain.Errorf(domain.KindInvalid, codeUnsupportedMediaType, "Content-Type %q: want application/json", v)
	}
	if v == "" {
		return refuse()
	}
	mt, params, err := mime.ParseMediaType(v)
	if err != nil || mt != "application/json" {
		return refuse()
	}
	for k, val := range params {
		if k != "charset" || !strings.EqualFold(val, "utf-8") {
			return refuse()
		}
	}
	return nil
}

// decodeStrict decodes one JSON object into v, refusing unknown fields, values of the wrong
// JSON type and anything after the object, each with the field named.
func decodeStrict(body []byte, v any) error {
	if !flatDisabled && decodeFlat(body, v) {
		return nil
	}
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
	return checkKeys(body, reflect.TypeOf(v))
}

// decodeFlat is decodeStrict's fast path for the request types whose fields are all
// rawValue (most write routes): when body is valid JSON (json.Valid, encoding/json's own
// grammar) holding one object whose keys are each exactly one of v's JSON field names, at
// most once, it sets those fields to their values' bytes, as rawValue.UnmarshalJSON would (a
// null is absent), and reports true. The values share body's bytes: the builders read them
// before the request ends. Anything else (another type, an error to report) reports false
// and leaves v untouched, for the full decoder to handle and word the refusal.
func decodeFlat(body []byte, v any) bool {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return false
	}
	names := flatFields(rv.Type().Elem())
	if names == nil || !json.Valid(body) {
		return false
	}
	s := keyScanner{b: body}
	if s.peek() != '{' {
		return false
	}
	s.i++
	type span struct{ field, from, to int }
	var found [flatFieldsMax]span
	n := 0
	var seen uint64
	for {
		switch s.peek() {
		case '}':
			st := rv.Elem()
			for _, f := range found[:n] {
				if val := body[f.from:f.to]; string(val) != "null" {
					st.Field(f.field).SetBytes(val[:len(val):len(val)])
				}
			}
			return true
		case ',':
			s.i++
			continue
		}
		raw, escaped, err := s.str()
		if err != nil || escaped {
			return false
		}
		i, known := names[string(raw)]
		if !known || seen&(1<<i) != 0 {
			return false
		}
		seen |= 1 << i
		if s.peek() != ':' {
			return false
		}
		s.i++
		s.skipSpace()
		from := s.i
		if err := s.value(nil); err != nil {
			return false
		}
		found[n] = span{i, from, s.i}
		n++
	}
}

// flatDisabled turns decodeFlat off, for the tests that compare it with the full decoder.
var flatDisabled = false

// flatFieldsMax bounds the fields of a type decodeFlat handles: one bit each in a uint64.
const flatFieldsMax = 64

var (
	flatFieldsCache sync.Map // reflect.Type → map[string]int (nil: not flat), never written to after
	rawValueType    = reflect.TypeFor[rawValue]()
)

// flatFields maps the JSON field names of t to their field indexes when t is a struct whose
// exported fields are all rawValue (and fewer than flatFieldsMax), and returns nil otherwise.
func flatFields(t reflect.Type) map[string]int {
	if m, ok := flatFieldsCache.Load(t); ok {
		return m.(map[string]int)
	}
	var out map[string]int
	if t.Kind() == reflect.Struct && t.NumField() < flatFieldsMax {
		out = map[string]int{}
		for i := range t.NumField() {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if !f.IsExported() || f.Type != rawValueType || name == "" || name == "-" {
				out = nil
				break
			}
			out[name] = i
		}
	}
	m, _ := flatFieldsCache.LoadOrStore(t, out)
	return m.(map[string]int)
}

// checkKeys walks body, one JSON value already known to decode into t (so well formed), and
// refuses an object key that is not exactly one of t's JSON field names, or that appears
// twice in one object, in document order. Values whose type is not a struct, or a slice of
// them, are only checked for keys given twice.
//
// It scans the bytes rather than json.Decoder tokens: a token walk allocated for every key
// and value and cost as much as decoding the body a second time on every write.
func checkKeys(body []byte, t reflect.Type) error {
	s := keyScanner{b: body}
	if err := s.value(t); err != nil {
		return err
	}
	return nil
}

// keyScanner is checkKeys' position in the body.
type keyScanner struct {
	b []byte
	i int
}

// errMalformed is what keyScanner answers for bytes encoding/json accepted but it cannot
// follow; it never happens for a body that decoded.
func (s *keyScanner) errMalformed() error {
	return invalid(codeInvalidJSON, "", "request body is not valid JSON at byte %d", s.i)
}

func (s *keyScanner) skipSpace() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// peek returns the next byte after white space, 0 at the end.
func (s *keyScanner) peek() byte {
	s.skipSpace()
	if s.i >= len(s.b) {
		return 0
	}
	return s.b[s.i]
}

// str consumes a string at s.i (its opening quote) and returns its raw bytes between the
// quotes and whether they hold an escape.
func (s *keyScanner) str() (raw []byte, escaped bool, err error) {
	start := s.i + 1
	for j := start; j < len(s.b); j++ {
		switch s.b[j] {
		case '\\':
			escaped = true
			j++ // the escaped byte; \uXXXX's hex digits hold no quote
		case '"':
			s.i = j + 1
			return s.b[start:j], escaped, nil
		}
	}
	return nil, false, s.errMalformed()
}

func (s *keyScanner) value(t reflect.Type) error {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch s.peek() {
	case '{':
		return s.object(t)
	case '[':
		return s.array(t)
	case '"':
		_, _, err := s.str()
		return err
	case 0:
		return s.errMalformed()
	}
	start := s.i
	for s.i < len(s.b) { // a number, true, false or null
		switch s.b[s.i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			if s.i == start {
				return s.errMalformed()
			}
			return nil
		}
		s.i++
	}
	return nil
}

func (s *keyScanner) object(t reflect.Type) error {
	s.i++ // '{'
	var names map[string]reflect.Type
	if t != nil && t.Kind() == reflect.Struct {
		names = jsonFields(t)
	}
	var seen []string // requests have tens of keys: a scan beats a map
	for {
		switch s.peek() {
		case '}':
			s.i++
			return nil
		case ',':
			s.i++
			continue
		case '"':
		default:
			return s.errMalformed()
		}
		raw, escaped, err := s.str()
		if err != nil {
			return err
		}
		key := string(raw)
		if escaped {
			if err := json.Unmarshal(s.b[s.i-len(raw)-2:s.i], &key); err != nil {
				return jsonError(err)
			}
		}
		if slices.Contains(seen, key) {
			return invalid(codeInvalidJSON, key, "field %q appears twice", key)
		}
		seen = append(seen, key)
		var ft reflect.Type
		if names != nil {
			var known bool
			if ft, known = names[key]; !known {
				return invalid(codeUnknownField, key, "unknown field %q (field names are case-sensitive)", key)
			}
		}
		if s.peek() != ':' {
			return s.errMalformed()
		}
		s.i++
		if err := s.value(ft); err != nil {
			return err
		}
	}
}

func (s *keyScanner) array(t reflect.Type) error {
	s.i++ // '['
	var et reflect.Type
	if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) && t.Elem().Kind() != reflect.Uint8 {
		et = t.Elem()
	}
	for {
		switch s.peek() {
		case ']':
			s.i++
			return nil
		case ',':
			s.i++
		case 0:
			return s.errMalformed()
		default:
			if err := s.value(et); err != nil {
				return err
			}
		}
	}
}

// jsonFieldsCache holds jsonFields' answer per struct type: the request types are few and
// fixed, and reflecting over one on every request showed in the write path's profile.
var jsonFieldsCache sync.Map // reflect.Type → map[string]reflect.Type, never written to after

// jsonFields maps a struct's JSON field names to their types.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	if m, ok := jsonFieldsCache.Load(t); ok {
		return m.(map[string]reflect.Type)
	}
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
	m, _ := jsonFieldsCache.LoadOrStore(t, out)
	return m.(map[string]reflect.Type)
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
	if s, ok := plainString(v); ok {
		return s
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		f.fail(invalid(domain.CodeInvalidField, name, "%s must be a JSON string", name))
		return ""
	}
	return s
}

// plainString returns the content of a JSON string with no escape and no control character
// (ids, dates, currencies: nearly every string a request holds), which is its bytes between
// the quotes; ok is false for any other value, which json.Unmarshal then reads. v comes from a
// body that decoded and is valid UTF-8, so a quote inside the content is always escaped.
func plainString(v []byte) (string, bool) {
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return "", false
	}
	content := v[1 : len(v)-1]
	for _, c := range content {
		if c == '\\' || c == '"' || c < 0x20 {
			return "", false
		}
	}
	if !utf8.Valid(content) {
		return "", false
	}
	return string(content), true
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
