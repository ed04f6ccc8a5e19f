// Package tlsconf makes the HTTPS server's configuration: the configured
// certificate, or a self-signed one kept under the data directory.
package tlsconf

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/smarteye/smarteye/dashboard"
)

// selfSignedLife is how long a self-signed certificate is made for; one
// that expires within selfSignedRenew is made again at start.
const (
	selfSignedLife  = 397 * 24 * time.Hour
	selfSignedRenew = 30 * 24 * time.Hour
)

// Server builds the HTTPS configuration: the configured certificate, or
// a self-signed one kept in <data_dir>/tls (made on first start, and again
// when it nears its end).
func Server(certFile, keyFile, dataDir, address string, log *slog.Logger) (*tls.Config, *dashboard.TLSInfo, error) {
	self := false
	if certFile == "" {
		dir := filepath.Join(dataDir, "tls")
		certFile, keyFile, self = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"), true
		if err := ensureSelfSigned(dir, certFile, keyFile, address, log); err != nil {
			return nil, nil, fmt.Errorf("https: %w", err)
		}
	}
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, nil, fmt.Errorf("https: %w", err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, nil, fmt.Errorf("https: %s: %w", certFile, err)
	}
	sum := sha256.Sum256(leaf.Raw)
	info := &dashboard.TLSInfo{Fingerprint: hex.EncodeToString(sum[:]), SelfSigned: self, NotAfter: leaf.NotAfter.UTC(), Subject: leaf.Subject.String()}
	if time.Until(leaf.NotAfter) < 0 {
		log.Error("the HTTPS certificate has expired", "file", certFile, "not_after", leaf.NotAfter)
	}
	log.Info("serving HTTPS", "certificate", certFile, "self_signed", self, "fingerprint_sha256", info.Fingerprint, "not_after", info.NotAfter)
	return &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12, NextProtos: []string{"h2", "http/1.1"}}, info, nil
}

// ensureSelfSigned makes a self-signed certificate for this machine's
// names and addresses unless a usable one is there.
func ensureSelfSigned(dir, certFile, keyFile, address string, log *slog.Logger) error {
	if pair, err := tls.LoadX509KeyPair(certFile, keyFile); err == nil {
		if leaf, err := x509.ParseCertificate(pair.Certificate[0]); err == nil && time.Until(leaf.NotAfter) > selfSignedRenew {
			return nil
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		log.Warn("the self-signed certificate is unreadable; making a new one", "err", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return err
	}
	host, _ := os.Hostname()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "smarteye " + host, Organization: []string{"smarteye (self-signed)"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(selfSignedLife),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	if host != "" {
		tmpl.DNSNames = append(tmpl.DNSNames, host)
	}
	// Every address of this machine, so that a browser on the network
	// that checks names against the pinned certificate finds its own.
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && !ipn.IP.IsLoopback() {
				tmpl.IPAddresses = append(tmpl.IPAddresses, ipn.IP)
			}
		}
	}
	if h, _, err := net.SplitHostPort(address); err == nil && h != "" {
		if ip := net.ParseIP(h); ip == nil {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	if err := writeAtomic(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		return err
	}
	if err := writeAtomic(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return err
	}
	log.Info("made a self-signed HTTPS certificate", "file", certFile, "names", tmpl.DNSNames, "addresses", len(tmpl.IPAddresses))
	return nil
}

func writeAtomic(path string, b []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, mode); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
