package analysis

import (
	"fmt"
	"image"
	"image/color"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"gocv.io/x/gocv"

	"github.com/smarteye/smarteye/vision"
)

// snapshots keeps, per live track, a JPEG of the frame where the track
// was seen best (highest confidence), with every box drawn and the track's
// highlighted; when the track ends the JPEG is written under
// dir/<camera>/<YYYY-MM-DD>/ and its path goes into the track.end event.
type snapshots struct {
	dir    string
	camera string
	best   map[uint64]shot
}

type shot struct {
	jpeg []byte
	conf float64
	time time.Time
}

// snapshotWidth bounds a snapshot's width: enough to see who and where.
const snapshotWidth = 960

func newSnapshots(dir, camera string) *snapshots {
	if dir == "" {
		return nil
	}
	return &snapshots{dir: dir, camera: camera, best: map[uint64]shot{}}
}

// offer keeps img as d's snapshot when d is better than the one kept by a
// clear margin (re-encoding a JPEG for every small improvement is wasted).
func (s *snapshots) offer(img gocv.Mat, all []vision.Detection, d vision.Detection, t time.Time) bool {
	if old, ok := s.best[d.TrackID]; ok && d.Confidence < old.conf+0.05 {
		return false
	}
	canvas := img.Clone()
	defer canvas.Close()
	annotate(&canvas, all, d, t, snapshotWidth)
	buf, err := gocv.IMEncodeWithParams(gocv.JPEGFileExt, canvas, []int{gocv.IMWriteJpegQuality, 80})
	if err != nil {
		return false
	}
	defer buf.Close()
	s.best[d.TrackID] = shot{jpeg: append([]byte(nil), buf.GetBytes()...), conf: d.Confidence, time: t}
	return true
}

// annotate draws every box on canvas, d's highlighted, with a label naming
// d and the time, and scales canvas down to width at most.
func annotate(canvas *gocv.Mat, all []vision.Detection, d vision.Detection, t time.Time, width int) {
	for _, o := range all {
		c, thick := color.RGBA{255, 200, 0, 0}, 1
		if o.TrackID == d.TrackID {
			c, thick = color.RGBA{255, 40, 40, 0}, 3
		}
		r := image.Rect(int(o.Box.X), int(o.Box.Y), int(o.Box.X+o.Box.W), int(o.Box.Y+o.Box.H))
		gocv.Rectangle(canvas, r, c, thick)
	}
	label := t.UTC().Format("2006-01-02 15:04:05Z")
	if d.Class != "" {
		label = fmt.Sprintf("%s #%d %.0f%%  %s", d.Class, d.TrackID%1_000_000, 100*d.Confidence, label)
	}
	// White on a dark band: readable over any scene.
	size := gocv.GetTextSize(label, gocv.FontHersheySimplex, 0.6, 2)
	gocv.Rectangle(canvas, image.Rect(0, 0, size.X+16, size.Y+18), color.RGBA{0, 0, 0, 0}, -1)
	gocv.PutText(canvas, label, image.Pt(8, size.Y+8), gocv.FontHersheySimplex, 0.6, color.RGBA{255, 255, 255, 0}, 2)
	if canvas.Cols() > width {
		h := canvas.Rows() * width / canvas.Cols()
		gocv.Resize(*canvas, canvas, image.Pt(width, h), 0, 0, gocv.InterpolationArea)
	}
}

// write stores a track's snapshot and forgets it; "" when it has none.
func (s *snapshots) write(track uint64) (string, error) {
	sh, ok := s.best[track]
	if !ok {
		return "", nil
	}
	delete(s.best, track)
	day := filepath.Join(s.dir, s.camera, sh.time.UTC().Format("2006-01-02"))
	if err := os.MkdirAll(day, 0o755); err != nil {
		return "", err
	}
	p := filepath.Join(day, strconv.FormatUint(track, 10)+".jpg")
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, sh.jpeg, 0o644); err != nil {
		return "", err
	}
	return p, os.Rename(tmp, p)
}

// PruneSnapshots deletes the day folders of dir/<camera>/ older than
// cutoff: snapshot retention follows the events'.
func PruneSnapshots(dir string, cutoff time.Time) (removed int, err error) {
	cams, err := os.ReadDir(dir)
	if err != nil {
		if os.IsNotExist(err) {
			return 0, nil
		}
		return 0, err
	}
	limit := cutoff.UTC().Format("2006-01-02")
	for _, c := range cams {
		if !c.IsDir() {
			continue
		}
		days, err := os.ReadDir(filepath.Join(dir, c.Name()))
		if err != nil {
			return removed, err
		}
		for _, d := range days {
			if _, perr := time.Parse("2006-01-02", d.Name()); perr != nil || !d.IsDir() || d.Name() >= limit {
				continue
			}
			if err := os.RemoveAll(filepath.Join(dir, c.Name(), d.Name())); err != nil {
				return removed, err
			}
			removed++
		}
	}
	return removed, nil
}
