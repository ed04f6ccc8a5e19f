package sim_test

import (
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/smarteye/smarteye/ingest/sim"
	"github.com/smarteye/smarteye/telemetry/testkit"
)

// A program run through the namespace's wrapper is on the other end of the
// pair: it has the peer address, and reaches this namespace's end over it.
// Close leaves neither the namespace nor the pair behind.
func TestNetNS(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("network namespaces need root")
	}
	if _, err := sim.NewNetNS("toolongtag", "10.231.11.1", "10.231.11.2"); err == nil || !strings.Contains(err.Error(), "over 15 characters") {
		t.Fatalf("a tag too long: %v", err)
	}
	ns, err := sim.NewNetNS("s", "10.231.11.1", "10.231.11.2")
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	t.Cleanup(func() {
		if !closed {
			ns.Close()
		}
	})
	if !strings.HasPrefix(ns.Name, "smarteye-s-") || ns.HostIP != "10.231.11.1" || ns.PeerIP != "10.231.11.2" {
		t.Fatalf("%+v", ns)
	}

	ipIn, err := ns.Wrapper(t.TempDir(), "ip")
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(ipIn, "-4", "-o", "addr", "show").CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v: %s", ipIn, err, out)
	}
	if s := string(out); !strings.Contains(s, "inet 10.231.11.2/24") || !strings.Contains(s, "inet 127.0.0.1/8") || strings.Contains(s, "10.231.11.1/") {
		t.Fatalf("addresses in the namespace:\n%s", s)
	}

	// A connection from inside to this side's address.
	ln, err := net.Listen("tcp", ns.HostIP+":0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	bashIn, err := ns.Wrapper(t.TempDir(), "bash")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	if out, err := exec.Command(bashIn, "-c", "echo hello from $(hostname -I) > /dev/tcp/"+ns.HostIP+"/"+strconv.Itoa(port)).CombinedOutput(); err != nil {
		t.Fatalf("bash in the namespace: %v: %s", err, out)
	}
	ln.(*net.TCPListener).SetDeadline(time.Now().Add(testkit.Scale(10 * time.Second)))
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if remote := c.RemoteAddr().(*net.TCPAddr).IP.String(); remote != ns.PeerIP {
		t.Fatalf("connection from %s, want %s", remote, ns.PeerIP)
	}
	buf := make([]byte, 64)
	c.SetReadDeadline(time.Now().Add(testkit.Scale(10 * time.Second)))
	n, _ := c.Read(buf)
	if got := strings.TrimSpace(string(buf[:n])); got != "hello from 10.231.11.2" {
		t.Fatalf("read %q", got)
	}

	ns.Close()
	closed = true
	if out, _ := exec.Command("ip", "netns", "list").Output(); strings.Contains(string(out), ns.Name) {
		t.Fatalf("namespace %s left after Close", ns.Name)
	}
	if out, _ := exec.Command("ip", "-o", "addr", "show").Output(); strings.Contains(string(out), ns.HostIP+"/") {
		t.Fatalf("address %s left after Close", ns.HostIP)
	}
}
