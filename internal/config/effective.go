package config

import (
	"fmt"
	"net/url"
	"reflect"
	"strings"

	"github.com/rs/zerolog"
)

// secret names the variables whose values are never shown: only whether
// they are set.
var secret = map[string]bool{
	"SKV_CLIENT_SECRET": true,
	"LOGIN_TOKEN_KEY":   true,
	"NATS_CREDS":        true,
	"NATS_NKEY":         true,
}

// Setting is one variable of the effective configuration.
type Setting struct {
	Name  string // the environment variable
	Value string // as shown: secrets as "(set)" or "", URLs without credentials
}

// Effective returns the configuration the worker runs with, defaults and
// derived endpoints filled in, one Setting per variable in the order of
// Config. A secret shows only whether it is set; a URL loses any user
// name and password.
func (c *Config) Effective() []Setting {
	v := reflect.ValueOf(c).Elem()
	t := v.Type()
	var out []Setting
	for i := range t.NumField() {
		name := t.Field(i).Tag.Get("envconfig")
		if name == "" {
			continue
		}
		val := fmt.Sprint(v.Field(i).Interface())
		switch {
		case secret[name] && val != "":
			val = "(set)"
		case strings.Contains(val, "@"):
			val = withoutUserinfo(val)
		}
		out = append(out, Setting{Name: name, Value: val})
	}
	return out
}

// MarshalZerologObject logs the effective configuration as one object.
func (c *Config) MarshalZerologObject(e *zerolog.Event) {
	for _, s := range c.Effective() {
		e.Str(s.Name, s.Value)
	}
}

// withoutUserinfo removes user names and passwords from a URL or a
// comma-separated list of them (NATS_URL may be one); a value with "@"
// that is not such a URL is hidden, as it may hold a credential.
func withoutUserinfo(v string) string {
	parts := strings.Split(v, ",")
	for i, p := range parts {
		u, err := url.Parse(strings.TrimSpace(p))
		switch {
		case err != nil || u.Host == "":
			return "(hidden: not a URL, contains @)"
		case u.User != nil:
			u.User = nil
			parts[i] = u.String()
		}
	}
	return strings.Join(parts, ",")
}
