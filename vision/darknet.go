package vision

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// ErrUnsupportedLayer is returned by DarknetWeights for a layer type it
// cannot count: the weights file then cannot be checked (OpenCV may still
// load the network).
var ErrUnsupportedLayer = errors.New("unsupported layer type")

// DarknetWeights returns how many float32 parameters a Darknet network
// described by cfg has, so that a weights file can be checked before
// OpenCV reads it: OpenCV accepts a truncated weights file silently and
// runs the network on whatever memory holds. It understands the layers of
// the YOLOv2/v3/v4 family (convolutional, maxpool, upsample, route,
// shortcut, yolo, region, reorg, dropout, avgpool; grouped routes as in
// YOLOv4-tiny); anything else is ErrUnsupportedLayer.
func DarknetWeights(cfg io.Reader) (int64, error) {
	type section struct {
		kind string
		kv   map[string]string
	}
	var secs []section
	sc := bufio.NewScanner(cfg)
	sc.Buffer(make([]byte, 64*1024), 64*1024)
	for line := 1; sc.Scan(); line++ {
		l := strings.TrimSpace(sc.Text())
		if i := strings.IndexAny(l, "#;"); i >= 0 {
			l = strings.TrimSpace(l[:i])
		}
		switch {
		case l == "":
		case strings.HasPrefix(l, "["):
			if !strings.HasSuffix(l, "]") || len(l) < 3 {
				return 0, fmt.Errorf("line %d: bad section %q", line, l)
			}
			secs = append(secs, section{kind: l[1 : len(l)-1], kv: map[string]string{}})
		default:
			k, v, ok := strings.Cut(l, "=")
			if !ok || len(secs) == 0 {
				return 0, fmt.Errorf("line %d: want key=value inside a section", line)
			}
			secs[len(secs)-1].kv[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	if len(secs) == 0 || (secs[0].kind != "net" && secs[0].kind != "network") {
		return 0, errors.New("no [net] section first")
	}
	num := func(s section, key string, def int) (int, error) {
		v, ok := s.kv[key]
		if !ok {
			return def, nil
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 1<<20 {
			return 0, fmt.Errorf("[%s] %s=%q: want a small non-negative integer", s.kind, key, v)
		}
		return n, nil
	}
	channels, err := num(secs[0], "channels", 3)
	if err != nil {
		return 0, err
	}
	var (
		out   []int // output channels per layer
		total int64
	)
	ref := func(i int, s string) (int, error) {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			return 0, fmt.Errorf("layer %d: bad layer reference %q", i, s)
		}
		if n < 0 {
			n += i
		}
		if n < 0 || n >= i {
			return 0, fmt.Errorf("layer %d: reference %s out of range", i, s)
		}
		return n, nil
	}
	for i, s := range secs[1:] {
		c := channels
		if i > 0 {
			c = out[i-1]
		}
		switch s.kind {
		case "convolutional", "conv":
			filters, err := num(s, "filters", 1)
			if err != nil {
				return 0, err
			}
			size, err := num(s, "size", 1)
			if err != nil {
				return 0, err
			}
			groups, err := num(s, "groups", 1)
			if err != nil {
				return 0, err
			}
			bn, err := num(s, "batch_normalize", 0)
			if err != nil {
				return 0, err
			}
			if filters == 0 || size == 0 || groups == 0 || c%groups != 0 {
				return 0, fmt.Errorf("layer %d: convolutional with filters=%d size=%d groups=%d on %d channels", i, filters, size, groups, c)
			}
			n := int64(filters) // biases
			if bn != 0 {
				n += 3 * int64(filters) // scales, rolling means, rolling variances
			}
			n += int64(filters) * int64(c/groups) * int64(size) * int64(size)
			total += n
			c = filters
		case "maxpool", "upsample", "yolo", "region", "dropout", "avgpool", "shortcut":
			if s.kind == "shortcut" {
				if _, err := ref(i, s.kv["from"]); err != nil {
					return 0, err
				}
			}
		case "reorg":
			stride, err := num(s, "stride", 2)
			if err != nil {
				return 0, err
			}
			c *= stride * stride
		case "route":
			layers := strings.Split(s.kv["layers"], ",")
			c = 0
			for _, l := range layers {
				j, err := ref(i, l)
				if err != nil {
					return 0, err
				}
				c += out[j]
			}
			// YOLOv4-tiny's grouped route keeps one group of the channels.
			groups, err := num(s, "groups", 1)
			if err != nil {
				return 0, err
			}
			if groups == 0 || c%groups != 0 {
				return 0, fmt.Errorf("layer %d: route of %d channels in %d groups", i, c, groups)
			}
			c /= groups
		default:
			return 0, fmt.Errorf("layer %d: %w [%s]", i, ErrUnsupportedLayer, s.kind)
		}
		if c > 1<<20 || total > 1<<40 {
			return 0, fmt.Errorf("layer %d: implausibly large network", i)
		}
		out = append(out, c)
	}
	return total, nil
}
