package dashboard

import (
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Hostile input is refused at the door, with 400 and a message, before a
// handler passes it to the database: PostgreSQL rejects a NUL byte or
// invalid UTF-8 in text with an error that would otherwise surface as "the
// database did not answer".

// badText says what is wrong with s as an id or a filter: "" when nothing.
func badText(s string) string {
	if !utf8.ValidString(s) {
		return "is not valid UTF-8"
	}
	for _, r := range s {
		if r == 0 {
			return "contains a NUL character"
		}
		if unicode.IsControl(r) && r != '\t' && r != '\n' && r != '\r' {
			return fmt.Sprintf("contains the control character %U", r)
		}
	}
	return ""
}

// checkRequest refuses a request whose path or query parameters carry
// characters no id, filter or time has (answering 400 itself).
func checkRequest(w http.ResponseWriter, r *http.Request) bool {
	if why := badText(r.URL.Path); why != "" {
		writeError(w, http.StatusBadRequest, "the path "+why)
		return false
	}
	for k, vs := range r.URL.Query() {
		if why := badText(k); why != "" {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("a query parameter's name %s", why))
			return false
		}
		for _, v := range vs {
			if why := badText(v); why != "" {
				writeError(w, http.StatusBadRequest, fmt.Sprintf("the query parameter %q %s", k, why))
				return false
			}
		}
	}
	return true
}

// nulText finds a string holding a NUL character (JSON's \u0000) anywhere
// in v, a decoded request body, and returns its place ("" when none).
// Invalid UTF-8 needs no check: the JSON decoder replaces it.
func nulText(v reflect.Value, at string) string {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			return nulText(v.Elem(), at)
		}
	case reflect.String:
		if strings.IndexByte(v.String(), 0) >= 0 {
			return at
		}
	case reflect.Struct:
		t := v.Type()
		for i := range v.NumField() {
			if !t.Field(i).IsExported() {
				continue
			}
			name := t.Field(i).Name
			if tag, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ","); tag != "" && tag != "-" {
				name = tag
			}
			if p := nulText(v.Field(i), joinPath(at, name)); p != "" {
				return p
			}
		}
	case reflect.Slice, reflect.Array:
		if v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.Uint8 {
			return "" // []byte: binary, base64 in JSON
		}
		for i := range v.Len() {
			if p := nulText(v.Index(i), fmt.Sprintf("%s[%d]", at, i)); p != "" {
				return p
			}
		}
	case reflect.Map:
		it := v.MapRange()
		for it.Next() {
			k := fmt.Sprint(it.Key().Interface())
			if strings.IndexByte(k, 0) >= 0 {
				return joinPath(at, "(a key)")
			}
			if p := nulText(it.Value(), joinPath(at, k)); p != "" {
				return p
			}
		}
	}
	return ""
}

func joinPath(at, name string) string {
	if at == "" {
		return name
	}
	return at + "." + name
}

// storeFailed answers 503 for a store error: what could not be done, and
// that the database did not answer. The error itself (PostgreSQL's text,
// which names tables and constraints) goes to the log, never to the
// client.
func (s *Server) storeFailed(w http.ResponseWriter, r *http.Request, what string, err error) {
	s.log.Warn(what+": the database did not answer", "method", r.Method, "path", r.URL.Path, "err", err)
	writeError(w, http.StatusServiceUnavailable, what+": the database did not answer")
}
