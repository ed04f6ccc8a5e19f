package auth

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestPasswordRules(t *testing.T) {
	for _, tc := range []struct {
		user, password string
		ok             bool
	}{
		{"kim", "silver-comet-2026", true},
		{"kim", "correct horse battery", true},
		{"kim", "短密码但够长的中文口令啊", true},
		{"kim", "kim-is-great-2026", false},
		{"kim", "password", false},
		{"kim", "Password2026!", false},
		{"kim", "!!Dragon1234", false},
		{"kim", "adminpassword", false},
		{"kim", "1234567890", false},
		{"kim", "9876543210", false},
		{"kim", "p4ssw0rd1234", false},
		{"kim", "aaaaaaaaaaaa", false},
		{"kim", "ab" + strings.Repeat("x", 80), false},
		{"kim", "tab\tinside-it", false},
	} {
		err := checkPassword(tc.user, tc.password, 10)
		if (err == nil) != tc.ok {
			t.Errorf("%q: %v, want ok=%v", tc.password, err, tc.ok)
		}
	}
}

// Whatever a password and a name are, the rules answer without panicking,
// and what they accept is long enough, printable, fits bcrypt and does not
// contain the name.
func FuzzCheckPassword(f *testing.F) {
	for _, s := range []string{"silver-comet-2026", "Password123!", "p4ssw0rd1234", "aaaaaaaaaaaa", "短密码但够长的中文口令啊", "1234567890", "\x00\xff"} {
		f.Add("kim", s)
	}
	f.Fuzz(func(t *testing.T, user, password string) {
		if err := checkPassword(user, password, 10); err == nil {
			if utf8.RuneCountInString(password) < 10 || len(password) > maxPasswordBytes || !utf8.ValidString(password) ||
				(len(user) >= 3 && strings.Contains(strings.ToLower(password), strings.ToLower(user))) {
				t.Fatalf("accepted %q for %q", password, user)
			}
		}
	})
}
