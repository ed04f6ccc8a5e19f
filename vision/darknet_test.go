package vision

import (
	"os"
	"strings"
	"testing"
)

func TestDarknetWeights(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  string
		want int64
		err  string
	}{
		{"conv with bn", "[net]\nchannels=3\n[convolutional]\nbatch_normalize=1\nfilters=16\nsize=3\n", 16*4 + 16*3*9, ""},
		{"conv then pool then conv", "[net]\n[convolutional]\nfilters=8\nsize=1\n[maxpool]\nsize=2\n[convolutional]\nfilters=4\nsize=3\n", 8 + 8*3 + 4 + 4*8*9, ""},
		{"route concatenates", "[net]\n[convolutional]\nfilters=8\nsize=1\n[convolutional]\nfilters=4\nsize=1\n[route]\nlayers=-1,-2\n[convolutional]\nfilters=2\nsize=1\n", (8 + 24) + (4 + 32) + (2 + 2*12), ""},
		{"comments", "# a model\n[net]\nchannels=1 # grey\n[convolutional]\nfilters=2\nsize=1\n", 2 + 2, ""},
		{"no net", "[convolutional]\nfilters=2\n", 0, "no [net]"},
		{"bad number", "[net]\n[convolutional]\nfilters=banana\n", 0, "filters"},
		{"route out of range", "[net]\n[route]\nlayers=-3\n", 0, "out of range"},
		{"unknown layer", "[net]\n[transformer]\n", 0, "unsupported"},
		{"grouped route (yolov4-tiny)", "[net]\n[convolutional]\nfilters=8\nsize=1\n[route]\nlayers=-1\ngroups=2\ngroup_id=1\n[convolutional]\nfilters=2\nsize=1\n", (8 + 24) + (2 + 2*4), ""},
		{"orphan key", "size=3\n[net]\n", 0, "inside a section"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DarknetWeights(strings.NewReader(tc.cfg))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %d %v, want %d", got, err, tc.want)
			}
		})
	}
}

// Debian's darknet package ships the real configurations.
func TestDarknetWeightsDebianCfgs(t *testing.T) {
	for file, want := range map[string]int64{
		// Parameter counts of the published models (weights file size − 20 bytes) / 4.
		"/usr/share/darknet/cfg/yolov3-tiny.cfg": 8858734,
		"/usr/share/darknet/cfg/yolov3.cfg":      62001757,
	} {
		f, err := os.Open(file)
		if err != nil {
			t.Fatalf("%v (Debian's darknet package; run `make deps`)", err)
		}
		got, err := DarknetWeights(f)
		f.Close()
		if err != nil || got != want {
			t.Errorf("%s: %d %v, want %d", file, got, err, want)
		}
	}
}

func FuzzDarknetWeights(f *testing.F) {
	f.Add("[net]\n[convolutional]\nfilters=8\nsize=3\nbatch_normalize=1\n[route]\nlayers=-1\n[yolo]\n")
	f.Add("[net]\nchannels=1\n[reorg]\nstride=2\n[shortcut]\nfrom=-1\n")
	f.Fuzz(func(t *testing.T, cfg string) {
		n, err := DarknetWeights(strings.NewReader(cfg))
		if err == nil && n < 0 {
			t.Fatalf("negative count %d", n)
		}
	})
}
