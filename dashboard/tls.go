package dashboard

import (
	"bufio"
	"errors"
	"net"
	"net/http"
	"sync"
	"time"
)

// TLSInfo describes the certificate smarteye serves HTTPS with, for
// /api/v1/status: an operator compares the fingerprint with the one the
// browser shows for a self-signed certificate.
type TLSInfo struct {
	Fingerprint string    `json:"fingerprint_sha256"` // of the certificate's DER, hex
	SelfSigned  bool      `json:"self_signed"`
	NotAfter    time.Time `json:"not_after"`
	Subject     string    `json:"subject"`
}

// hstsMaxAge is how long a browser that reached smarteye over HTTPS keeps
// to HTTPS for it (180 days).
const hstsMaxAge = "max-age=15552000"

// A TLS server answers plain HTTP on the same port with a redirect to
// HTTPS: the first byte of a connection tells a TLS handshake (0x16) from
// an HTTP request.

// chanListener hands out connections a splitter sorted to it.
type chanListener struct {
	addr   net.Addr
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func newChanListener(addr net.Addr) *chanListener {
	return &chanListener{addr: addr, conns: make(chan net.Conn), closed: make(chan struct{})}
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *chanListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *chanListener) Addr() net.Addr { return l.addr }

// peekedConn is a connection whose first bytes were read to sort it and
// are read again.
type peekedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *peekedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// split accepts from ln and sorts each connection to tlsLn or plainLn by
// its first byte, until ln is closed. A connection that sends nothing
// within 10 s is closed.
func split(ln net.Listener, tlsLn, plainLn *chanListener) error {
	defer tlsLn.Close()
	defer plainLn.Close()
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			return err
		}
		go func() {
			_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
			r := bufio.NewReader(c)
			b, err := r.Peek(1)
			_ = c.SetReadDeadline(time.Time{})
			if err != nil {
				c.Close()
				return
			}
			to := plainLn
			if b[0] == 0x16 { // TLS handshake record
				to = tlsLn
			}
			select {
			case to.conns <- &peekedConn{Conn: c, r: r}:
			case <-to.closed:
				c.Close()
			}
		}()
	}
}

// redirectToHTTPS answers every plain HTTP request with a permanent
// redirect to the same URL over HTTPS.
func redirectToHTTPS(w http.ResponseWriter, r *http.Request) {
	host := r.Host
	if host == "" {
		host = "localhost"
	}
	http.Redirect(w, r, "https://"+host+r.URL.RequestURI(), http.StatusPermanentRedirect)
}
