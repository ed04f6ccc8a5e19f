package sim

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// NetNS is a network namespace joined to this one by a veth pair, for
// tests and benchmarks that need a browser on another interface than
// smarteye (chromium gathers no loopback candidates, so WebRTC between
// two programs on loopback alone may not connect). It needs root.
type NetNS struct {
	Name   string
	HostIP string // this namespace's end of the pair
	PeerIP string // the namespace's end
	host   string
}

// NewNetNS makes the namespace, the pair, their addresses (/24) and
// brings them up. The error says why where namespaces are not permitted.
func NewNetNS(tag, hostIP, peerIP string) (*NetNS, error) {
	id := os.Getpid() % 100000
	n := &NetNS{Name: fmt.Sprintf("smarteye-%s-%d", tag, id), HostIP: hostIP, PeerIP: peerIP, host: fmt.Sprintf("se%s%dh", tag, id)}
	peer := fmt.Sprintf("se%s%dp", tag, id)
	if len(n.host) > 15 {
		return nil, fmt.Errorf("sim: tag %q makes an interface name over 15 characters", tag)
	}
	if err := ip("netns", "add", n.Name); err != nil {
		return nil, err
	}
	for _, step := range [][]string{
		{"link", "add", n.host, "type", "veth", "peer", "name", peer},
		{"link", "set", peer, "netns", n.Name},
		{"addr", "add", hostIP + "/24", "dev", n.host},
		{"link", "set", n.host, "up"},
		{"netns", "exec", n.Name, "ip", "addr", "add", peerIP + "/24", "dev", peer},
		{"netns", "exec", n.Name, "ip", "link", "set", peer, "up"},
		{"netns", "exec", n.Name, "ip", "link", "set", "lo", "up"},
	} {
		if err := ip(step...); err != nil {
			n.Close()
			return nil, err
		}
	}
	return n, nil
}

// Wrapper writes, in dir, a script that runs program inside the namespace
// with the script's arguments, and returns its path.
func (n *NetNS) Wrapper(dir, program string) (string, error) {
	path := filepath.Join(dir, "in-"+n.Name)
	return path, os.WriteFile(path, []byte("#!/bin/sh\nexec ip netns exec "+n.Name+" "+program+" \"$@\"\n"), 0o755)
}

// SetLink brings the host's end of the pair up or down: down cuts the
// namespace off silently (no reset reaches either side).
func (n *NetNS) SetLink(up bool) error {
	state := "down"
	if up {
		state = "up"
	}
	return ip("link", "set", n.host, state)
}

// Close removes the namespace and the pair.
func (n *NetNS) Close() {
	ip("netns", "del", n.Name)
	ip("link", "del", n.host)
}

func ip(args ...string) error {
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}
