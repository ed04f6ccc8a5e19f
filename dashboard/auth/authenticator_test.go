package auth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/crypto/bcrypt"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testAuth has an admin's token and one user of each role, whose password
// is the role's name twice ("fieldfield").
func testAuth(t testing.TB) Config {
	h := sha256.Sum256([]byte("test-admin-token"))
	a := Config{Tokens: []Token{{Name: "test", Role: RoleAdmin, SHA256: hex.EncodeToString(h[:])}}}
	for role := range rolePermissions {
		hash, err := bcrypt.GenerateFromPassword([]byte(role+role), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		a.Users = append(a.Users, User{Name: role + "-user", Role: role, PasswordHash: string(hash)})
	}
	return a
}

// A name is locked out only from the address that guessed: nobody can
// lock admin out from elsewhere. An address guessing many names is slowed
// down, more with each failure.
func TestLockoutPerNameAndAddress(t *testing.T) {
	a, err := NewAuthenticator(testAuth(t), nil, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
	a.now = func() time.Time { return now }
	for range MaxFailures {
		if _, _, _, err := a.Login(context.Background(), "admin-user", "guess", "203.0.113.9", ""); err != errBadLogin {
			t.Fatal(err)
		}
	}
	var locked errLocked
	if _, _, _, err := a.Login(context.Background(), "admin-user", "adminadmin", "203.0.113.9", ""); !errors.As(err, &locked) || locked.scope != "this name from this address" {
		t.Fatalf("the guessing address: %v", err)
	}
	if _, _, _, err := a.Login(context.Background(), "admin-user", "adminadmin", "10.0.0.7", ""); err != nil {
		t.Fatalf("the admin elsewhere: %v", err)
	}
	// An address trying many names: after maxAddrFailures, a wait that doubles.
	for i := range maxAddrFailures {
		if _, _, _, err := a.Login(context.Background(), fmt.Sprintf("user-%d", i), "guess", "198.51.100.4", ""); err != errBadLogin {
			t.Fatalf("try %d: %v", i, err)
		}
	}
	waits := []time.Duration{}
	for range 3 {
		_, _, _, err := a.Login(context.Background(), "field-user", "fieldfield", "198.51.100.4", "")
		if !errors.As(err, &locked) || locked.scope != "this address" {
			t.Fatalf("a throttled address: %v", err)
		}
		waits = append(waits, locked.wait)
		now = now.Add(locked.wait)
		if _, _, _, err := a.Login(context.Background(), "nobody", "guess", "198.51.100.4", ""); err != errBadLogin {
			t.Fatalf("after the wait: %v", err)
		}
	}
	if waits[0] != 2*time.Second || waits[1] != 4*time.Second || waits[2] != 8*time.Second {
		t.Fatalf("waits %v", waits)
	}
	// Other addresses are not slowed.
	if _, _, _, err := a.Login(context.Background(), "field-user", "fieldfield", "10.0.0.8", ""); err != nil {
		t.Fatal(err)
	}
}

// flakyTally is a shared Tally that can stop answering.
type flakyTally struct {
	*memTally
	down bool
}

var errTallyDown = errors.New("no responders")

func (f *flakyTally) Get(ctx context.Context, key string) ([]byte, error) {
	if f.down {
		return nil, errTallyDown
	}
	return f.memTally.Get(ctx, key)
}

func (f *flakyTally) Update(ctx context.Context, key string, fn func([]byte) []byte) error {
	if f.down {
		return errTallyDown
	}
	return f.memTally.Update(ctx, key, fn)
}

func (f *flakyTally) Delete(ctx context.Context, key string) error {
	if f.down {
		return errTallyDown
	}
	return f.memTally.Delete(ctx, key)
}

// Nodes sharing a Tally count one name's wrong passwords together: three
// through one node and two through another lock it out on both. While
// the shared tally does not answer, each node still locks out what it
// sees itself; a right password clears the count everywhere.
func TestLockoutSharedAcrossNodes(t *testing.T) {
	shared := &flakyTally{memTally: newMemTally(100)}
	now := time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC)
	var nodes []*Authenticator
	for range 2 {
		cfg := testAuth(t)
		cfg.Tally = shared
		a, err := NewAuthenticator(cfg, nil, slog.Default())
		if err != nil {
			t.Fatal(err)
		}
		a.now = func() time.Time { return now }
		nodes = append(nodes, a)
	}
	ctx := context.Background()
	login := func(node int, password string) error {
		_, _, _, err := nodes[node].Login(ctx, "planner-user", password, "203.0.113.9", "")
		return err
	}
	for i := range MaxFailures {
		if err := login(i%2, "guess"); err != errBadLogin {
			t.Fatalf("guess %d: %v", i, err)
		}
	}
	var locked errLocked
	for node := range 2 {
		if err := login(node, "plannerplanner"); !errors.As(err, &locked) {
			t.Fatalf("node %d after guesses through both: %v", node+1, err)
		}
	}
	now = now.Add(lockout)
	// Cleared by a right password, on every node.
	if err := login(0, "guess"); err != errBadLogin {
		t.Fatal(err)
	}
	if err := login(1, "plannerplanner"); err != nil {
		t.Fatal(err)
	}
	if b, _ := shared.Get(ctx, nameKey("planner-user", "203.0.113.9")); b != nil {
		t.Fatalf("the count after a right password: %s", b)
	}
	// The shared tally goes away: node 1 counts alone, and still locks out.
	shared.down = true
	for i := range MaxFailures {
		if err := login(0, "guess"); err != errBadLogin {
			t.Fatalf("guess %d with the tally down: %v", i, err)
		}
	}
	if err := login(0, "plannerplanner"); !errors.As(err, &locked) {
		t.Fatalf("node 1 counting alone: %v", err)
	}
	if err := login(1, "plannerplanner"); err != nil {
		t.Fatalf("node 2 saw none of it: %v", err)
	}
}

// A login ends after its TTL however much it is used, and earlier when
// it is not used for the idle timeout.
func TestSessionsExpire(t *testing.T) {
	a, err := NewAuthenticator(testAuth(t), nil, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
	a.now = func() time.Time { return now }
	request := func() *http.Request {
		cookie, _, _, err := a.Login(context.Background(), "commander-user", "commandercommander", "10.0.0.1", "")
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest("GET", "/", nil)
		req.AddCookie(&http.Cookie{Name: CookieName, Value: cookie})
		return req
	}
	used := request()
	if p, ok := a.Principal(used); !ok || p.Role != RoleCommander {
		t.Fatalf("fresh session: %v %+v", ok, p)
	}
	idle := request()
	for range 23 {
		now = now.Add(30 * time.Minute)
		if _, ok := a.Principal(used); !ok {
			t.Fatalf("a login in use ended at %s", now)
		}
	}
	if _, ok := a.Principal(idle); ok {
		t.Fatal("a login unused for 11.5 hours still works (idle timeout 1 h)")
	}
	now = now.Add(30*time.Minute + time.Second)
	if _, ok := a.Principal(used); ok {
		t.Fatal("a session outlived its TTL")
	}
	// Idle for just under the timeout, then for just over it.
	idle = request()
	now = now.Add(time.Hour - time.Second)
	if _, ok := a.Principal(idle); !ok {
		t.Fatal("ended before the idle timeout")
	}
	now = now.Add(time.Hour + time.Second)
	if _, ok := a.Principal(idle); ok {
		t.Fatal("not ended after the idle timeout")
	}
}

func TestBadConfig(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Users: []User{{Name: "a", Role: "god", PasswordHash: "$2a$04$abcdefghijklmnopqrstuuG3cy4p0b1G/6S0zZ3aUx6gJ3jJGqfJ."}}}, "role"},
		{Config{Users: []User{{Name: "a", Role: "admin", PasswordHash: "secret"}}}, "bcrypt"},
		{Config{Tokens: []Token{{Name: "t", Role: "admin", SHA256: "abc"}}}, "64 hex"},
		{Config{Users: []User{{Role: "admin"}}}, "without a name"},
	} {
		if _, err := NewAuthenticator(tc.cfg, nil, slog.Default()); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.cfg, err, tc.want)
		}
	}
}
