package cv

import (
	"bytes"
	"testing"
)

func TestMessages(t *testing.T) {
	var b bytes.Buffer
	if err := writeMsg(&b, []byte("ab"), []byte("cde")); err != nil {
		t.Fatal(err)
	}
	got, err := readMsg(&b, 10, nil)
	if err != nil || string(got) != "abcde" {
		t.Fatalf("%q %v", got, err)
	}
	b.Reset()
	writeMsg(&b, make([]byte, 11))
	if _, err := readMsg(&b, 10, nil); err == nil {
		t.Fatal("oversized message accepted")
	}
	if _, err := readMsg(bytes.NewReader([]byte{0, 0, 0, 5, 'a'}), 10, nil); err == nil {
		t.Fatal("truncated message accepted")
	}
}

// FuzzReadMsg: whatever a worker (or something posing as one) writes, the
// reader returns a message within the bound or an error.
func FuzzReadMsg(f *testing.F) {
	f.Add([]byte{0, 0, 0, 2, '{', '}'})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bytes.NewReader(data)
		for {
			m, err := readMsg(r, 1024, nil)
			if err != nil {
				return
			}
			if len(m) > 1024 {
				t.Fatalf("message of %d bytes", len(m))
			}
		}
	})
}

func TestTailReason(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"terminate called after throwing an instance of 'cv::Exception'\n  what():  OpenCV(4.6.0) x.cpp:1: error: (-2) bad in function 'f'\n\nSIGABRT: abort\nPC=0x0\n", "OpenCV(4.6.0) x.cpp:1: error: (-2) bad in function 'f'"},
		{"panic: runtime error\n\ngoroutine 1\n", "panic: runtime error"},
		{"just one line\nand another\n", "just one line"},
		{"", ""},
	} {
		var tl tail
		tl.Write([]byte(tc.in))
		if got := tl.String(); got != tc.want {
			t.Errorf("%q: got %q, want %q", tc.in, got, tc.want)
		}
	}
}
