package rtsp

import (
	"testing"
	"time"
)

func TestJPEGSize(t *testing.T) {
	sof := []byte{0xff, 0xd8, 0xff, 0xe0, 0, 4, 1, 2, 0xff, 0xc0, 0, 17, 8, 0x01, 0xe0, 0x02, 0x80, 3}
	if w, h, ok := jpegSize(append(sof, make([]byte, 20)...)); !ok || w != 640 || h != 480 {
		t.Fatalf("%d %d %v", w, h, ok)
	}
	for _, bad := range [][]byte{nil, {0xff, 0xd8}, {0xff, 0xd8, 0x00, 0x00, 0, 0, 0, 0, 0, 0}, {0xff, 0xd8, 0xff, 0xe0, 0, 1, 0, 0, 0, 0, 0}} {
		if _, _, ok := jpegSize(bad); ok {
			t.Errorf("%x: size found", bad)
		}
	}
}

func FuzzJPEGSize(f *testing.F) {
	f.Add([]byte{0xff, 0xd8, 0xff, 0xc0, 0, 17, 8, 0x01, 0xe0, 0x02, 0x80})
	f.Fuzz(func(t *testing.T, b []byte) {
		if w, h, ok := jpegSize(b); ok && (w < 0 || h < 0 || w > 65535 || h > 65535) {
			t.Fatal(w, h)
		}
	})
}

// RTP ticks to durations past the point where ticks × 1e9 overflows.
func TestTicks(t *testing.T) {
	for _, tc := range []struct {
		n, rate int64
		want    time.Duration
	}{
		{90000, 90000, time.Second},
		{45000, 90000, 500 * time.Millisecond},
		{90000 * 3600 * 30, 90000, 30 * time.Hour},
		{-90000, 90000, -time.Second},
	} {
		if got := ticks(tc.n, tc.rate); got != tc.want {
			t.Errorf("ticks(%d, %d) = %s, want %s", tc.n, tc.rate, got, tc.want)
		}
	}
}
