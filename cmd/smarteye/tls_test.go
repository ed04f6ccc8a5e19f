package main

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/smarteye/smarteye/dashboard"
	"github.com/smarteye/smarteye/telemetry/store/storetest"
)

// HTTPS served by smarteye itself, with the self-signed certificate it
// makes on first start: the fingerprint in /api/v1/status is the served
// certificate's; plain HTTP on the same port is redirected; HSTS is sent;
// the session cookie is Secure; the live feed's WebSocket works over it;
// a restart keeps the certificate.
func TestHTTPS(t *testing.T) {
	data := filepath.Join(storetest.TempDir(t), "var")
	env := []string{"SMARTEYE_HTTP_TLS_ENABLED=true"}
	p := startEnv(t, env, "demo", "--data-dir", data, "--http", "127.0.0.1:0")
	if !strings.HasPrefix(p.url, "https://") {
		t.Fatalf("URL %s", p.url)
	}
	cert := servedCertificate(t, data)
	if st, err := os.Stat(filepath.Join(data, "tls", "key.pem")); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", st.Mode(), err)
	}
	sum := sha256.Sum256(cert.Raw)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	defer c.CloseIdleConnections()

	login := func() *http.Response {
		t.Helper()
		resp, err := c.Post(p.url+"api/v1/auth/login", "application/json", strings.NewReader(`{"username":"admin","password":"`+testPassword+`"}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	resp := login()
	if resp.StatusCode != 200 || len(resp.Cookies()) != 1 || !resp.Cookies()[0].Secure || resp.Header.Get("Strict-Transport-Security") == "" {
		t.Fatalf("login over HTTPS: %d, cookies %v, HSTS %q", resp.StatusCode, resp.Cookies(), resp.Header.Get("Strict-Transport-Security"))
	}
	status := func() dashboard.Status {
		t.Helper()
		var st dashboard.Status
		for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(200 * time.Millisecond) {
			resp, err := c.Get(p.url + "api/v1/status")
			if err == nil {
				err = json.NewDecoder(resp.Body).Decode(&st)
				resp.Body.Close()
				if err == nil && st.Store.Ready {
					return st
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("status over HTTPS: %v %+v\n%s", err, st, p.log.String())
			}
		}
	}
	st := status()
	if st.TLS == nil || st.TLS.Fingerprint != hex.EncodeToString(sum[:]) || !st.TLS.SelfSigned || st.TLS.NotAfter.Before(time.Now().Add(300*24*time.Hour)) {
		t.Fatalf("status TLS %+v, served certificate %x", st.TLS, sum)
	}
	if !strings.Contains(p.log.String(), st.TLS.Fingerprint) {
		t.Error("the fingerprint was not logged")
	}
	// Plain HTTP on the same port: a permanent redirect to HTTPS.
	plain := "http://" + strings.TrimPrefix(p.url, "https://")
	resp2, err := (&http.Client{Timeout: 10 * time.Second, CheckRedirect: c.CheckRedirect}).Get(plain + "api/v1/status?x=1")
	if err != nil {
		t.Fatal(err)
	}
	resp2.Body.Close()
	if resp2.StatusCode != http.StatusPermanentRedirect || resp2.Header.Get("Location") != p.url+"api/v1/status?x=1" {
		t.Fatalf("plain HTTP: %d %q", resp2.StatusCode, resp2.Header.Get("Location"))
	}
	// The browser over HTTPS: the map's live feed and a camera's live
	// video (WebSockets), with the certificate pinned by its public key.
	seen := browser(t, p, []string{pinnedCertificate(t, data)}, "", "https")
	t.Logf("over HTTPS the browser showed %v", seen)
	if seen["protocol"] != "https:" || seen["connected"] != true {
		t.Fatalf("browser over HTTPS: %v", seen)
	}
	stopWith(t, p, syscall.SIGTERM)

	// Restarted: the same certificate.
	p = startEnv(t, env, "serve", "--data-dir", data, "--http", "127.0.0.1:0")
	login()
	if st := status(); st.TLS == nil || st.TLS.Fingerprint != hex.EncodeToString(sum[:]) {
		t.Fatalf("after a restart: %+v", st.TLS)
	}
	stopWith(t, p, syscall.SIGTERM)
}

// servedCertificate is the self-signed certificate in data's tls folder.
func servedCertificate(t *testing.T, data string) *x509.Certificate {
	t.Helper()
	pemBytes, err := os.ReadFile(filepath.Join(data, "tls", "cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		t.Fatal("cert.pem holds no PEM block")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// pinnedCertificate is the CHROMIUM_ARGS setting that makes chromium trust
// the self-signed certificate in data's tls folder (by its public key).
func pinnedCertificate(t *testing.T, data string) string {
	t.Helper()
	spki := sha256.Sum256(servedCertificate(t, data).RawSubjectPublicKeyInfo)
	return "CHROMIUM_ARGS=--ignore-certificate-errors-spki-list=" + base64.StdEncoding.EncodeToString(spki[:])
}
