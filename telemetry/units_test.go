package telemetry

import (
	"testing"
	"time"
)

func TestDuration(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"0", 0, true},
		{"500ms", 500 * time.Millisecond, true},
		{"1h30m", 90 * time.Minute, true},
		{"30d", 30 * 24 * time.Hour, true},
		{"1w2d", 9 * 24 * time.Hour, true},
		{"1.5d", 36 * time.Hour, true},
		{"30", 0, false},
		{"", 0, false},
		{"d", 0, false},
		{"10x", 0, false},
		{"-5s", 0, false},
		{"99999999999999d", 0, false},
	} {
		got, err := ParseDuration(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseDuration(%q) = %v, %v", tc.in, got, err)
		}
	}
	for _, d := range []Duration{0, Duration(500 * time.Millisecond), Duration(30 * 24 * time.Hour), Duration(90 * time.Minute)} {
		back, err := ParseDuration(d.String())
		if err != nil || Duration(back) != d {
			t.Errorf("%v does not round-trip: %v %v", d, back, err)
		}
	}
}

func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"10s", "30d", "1w2d3h", "1.5d", "0", "500ms"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDuration(s)
		if err != nil {
			return
		}
		if d < 0 {
			t.Fatalf("%q parsed to negative %v", s, d)
		}
		back, err := ParseDuration(Duration(d).String())
		if err != nil || back != d {
			t.Fatalf("%q: %v does not round-trip (%v, %v)", s, d, back, err)
		}
	})
}

func TestProblems(t *testing.T) {
	var p Problems
	if p.Err() != nil {
		t.Fatal("no problem is no error")
	}
	v := p.In("video")
	v.Positive("read_timeout", 0)
	c := v.In("cameras").In("[1]")
	c.Add("url", "want %s", "rtsp://")
	c.Add("", "whole")
	p.In("").Add("data_dir", "empty")
	want := "video.read_timeout: must be positive, e.g. 10s\nvideo.cameras[1].url: want rtsp://\nvideo.cameras[1]: whole\ndata_dir: empty"
	if err := p.Err(); err == nil || err.Error() != want {
		t.Fatalf("got %v", err)
	}
	if CheckAddr(":8080") != nil || CheckAddr("host") == nil || CheckAddr("h:99999") == nil {
		t.Fatal("CheckAddr")
	}
}
