package auth

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"
)

// defaultPasswordMinLength is auth.password_min_length's default.
const defaultPasswordMinLength = 10

// maxPasswordBytes: bcrypt reads no further.
const maxPasswordBytes = 72

//go:embed common-passwords.txt
var commonPasswordList []byte

// commonPasswords are the passwords refused outright, in lower case.
var commonPasswords = func() map[string]bool {
	m := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(commonPasswordList))
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" && !strings.HasPrefix(l, "#") {
			m[l] = true
		}
	}
	return m
}()

// leet undoes the usual letter-for-digit swaps.
var leet = strings.NewReplacer("@", "a", "4", "a", "0", "o", "1", "i", "!", "i", "3", "e", "$", "s", "5", "s", "7", "t", "+", "t")

// errWeakPassword is a password the rules refuse; its text says why.
type errWeakPassword struct{ why string }

func (e errWeakPassword) Error() string { return "password: " + e.why }

// checkPassword applies the password rules: at least minLen characters
// (and at most 72 bytes, all bcrypt reads), printable, not containing the
// user's name, not one character or a keyboard run over and over, and not a
// common password (the shipped list, also with digits or punctuation added
// before or after, or with digits for letters).
func checkPassword(user, password string, minLen int) error {
	n := utf8.RuneCountInString(password)
	switch {
	case !utf8.ValidString(password) || strings.ContainsFunc(password, unicode.IsControl):
		return errWeakPassword{"only printable characters"}
	case n < minLen:
		return errWeakPassword{fmt.Sprintf("at least %d characters", minLen)}
	case len(password) > maxPasswordBytes:
		return errWeakPassword{fmt.Sprintf("at most %d bytes", maxPasswordBytes)}
	}
	lower := strings.ToLower(password)
	if u := strings.ToLower(user); len(u) >= 3 && strings.Contains(lower, u) {
		return errWeakPassword{"must not contain the user name"}
	}
	if distinct(lower) <= 2 {
		return errWeakPassword{"too few different characters"}
	}
	if isCommon(lower) {
		return errWeakPassword{"too common (it is on the list of passwords people choose most often); choose another"}
	}
	return nil
}

// isCommon reports whether a lower-case password is a common one, perhaps
// with digits or punctuation around it or digits for letters.
func isCommon(p string) bool {
	notLetter := func(r rune) bool { return !unicode.IsLetter(r) }
	trimmed := strings.TrimFunc(p, notLetter)
	for _, c := range []string{p, leet.Replace(p), trimmed, leet.Replace(trimmed)} {
		if c == "" {
			continue
		}
		if commonPasswords[c] {
			return true
		}
		if core := strings.TrimFunc(c, notLetter); core != "" && commonPasswords[core] {
			return true
		}
		// A common word repeated ("monkeymonkey") or run together with
		// another ("adminpassword").
		for w := range commonPasswords {
			if len(w) >= 4 && strings.HasPrefix(c, w) && (commonPasswords[c[len(w):]] || strings.TrimFunc(c[len(w):], notLetter) == "" || strings.TrimFunc(c[len(w):], notLetter) == w) {
				return true
			}
		}
	}
	// Keyboard and number runs ("1234567890", "qwertyuiop") are on the
	// list; runs of consecutive characters ("abcdefghij") are refused too.
	run := 1
	for i := 1; i < len(p); i++ {
		if d := int(p[i]) - int(p[i-1]); d == 1 || d == -1 {
			run++
		}
	}
	return run == len(p)
}

func distinct(s string) int {
	seen := map[rune]bool{}
	for _, r := range s {
		seen[r] = true
	}
	return len(seen)
}

var errPasswordSameAsOld = errors.New("password: the new password is the old one")

// HashPassword makes a bcrypt hash for a user's password_hash, refusing a
// password shorter than 8 characters or a common one.
func HashPassword(password string) (string, error) {
	if err := checkPassword("", password, 8); err != nil {
		return "", err
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
	return string(h), err
}

// NewToken makes an API token and the SHA-256 to configure for it.
func NewToken() (token, sha string) {
	token, sum := newToken()
	return token, hex.EncodeToString(sum[:])
}

// newToken makes an API token and its SHA-256, all that is kept of it.
func newToken() (token string, sum [32]byte) {
	token = randomString(32)
	return token, sha256.Sum256([]byte(token))
}

func randomString(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
