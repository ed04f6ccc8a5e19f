package api

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

// BadText says what is wrong with s as an id or a filter: "" when nothing.
func BadText(s string) string {
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

// CheckRequest refuses a request whose path or query parameters carry
// characters no id, filter or time has (answering 400 itself).
func CheckRequest(w http.ResponseWriter, r *http.Request) bool {
	if why := BadText(r.URL.Path); why != "" {
		WriteError(w, http.StatusBadRequest, "the path "+why)
		return false
	}
	for k, vs := range r.URL.Query() {
		if why := BadText(k); why != "" {
			WriteError(w, http.StatusBadRequest, fmt.Sprintf("a query parameter's name %s", why))
			return false
		}
		for _, v := range vs {
			if why := BadText(v); why != "" {
				WriteError(w, http.StatusBadRequest, fmt.Sprintf("the query parameter %q %s", k, why))
				return false
			}
		}
	}
	return true
}

// NulText finds a string holding a NUL character (JSON's \u0000) anywhere
// in v, a decoded request body, and returns its place ("" when none).
// Invalid UTF-8 needs no check: the JSON decoder replaces it.
func NulText(v reflect.Value, at string) string {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			return NulText(v.Elem(), at)
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
			if p := NulText(v.Field(i), joinPath(at, name)); p != "" {
				return p
			}
		}
	case reflect.Slice, reflect.Array:
		if v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.Uint8 {
			return "" // []byte: binary, base64 in JSON
		}
		for i := range v.Len() {
			if p := NulText(v.Index(i), fmt.Sprintf("%s[%d]", at, i)); p != "" {
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
			if p := NulText(it.Value(), joinPath(at, k)); p != "" {
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
