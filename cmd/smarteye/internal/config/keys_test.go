package config

import (
	"reflect"
	"strings"
)

func reflectType() reflect.Type { return reflect.TypeOf(Config{}) }

// collectKeys lists the dotted YAML paths of every scalar key.
func collectKeys(t reflect.Type, prefix string, out map[string]bool) {
	for i := 0; i < t.NumField(); i++ {
		name, opts, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if !t.Field(i).IsExported() || name == "-" {
			continue
		}
		ft := t.Field(i).Type
		if opts == "inline" {
			collectKeys(ft, prefix, out)
			continue
		}
		if ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct {
			collectKeys(ft.Elem(), prefix+name+".", out)
			continue
		}
		if ft.Kind() == reflect.Struct {
			collectKeys(ft, prefix+name+".", out)
			continue
		}
		out[prefix+name] = true
	}
}
