package cv

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"gocv.io/x/gocv"

	"github.com/smarteye/smarteye/vision"
)

// workerEnv marks a process started as a model worker.
const workerEnv = "SMARTEYE_DETECTOR_WORKER"

// IsWorker reports whether this process was started as a model worker;
// main (and TestMain in packages that start workers) then calls
// WorkerMain instead of doing anything else.
func IsWorker() bool { return os.Getenv(workerEnv) == "1" }

// maxFrameBytes bounds one request: an 8K BGR frame.
const maxFrameBytes = 7680 * 4320 * 3

// reqHeader is a detection request's header: rows, cols, network input
// width and height.
const reqHeader = 16

// Protocol between smarteye and a worker, over the worker's stdin and
// stdout: messages are a 4-byte big-endian length and a payload. The
// first message is the ModelConfig as JSON, answered by a workerReply
// (loaded or why not). Then each request is rows, cols and the network
// input's width and height (4 bytes each; 0 and 0 for the model's own)
// and the BGR pixels, answered by a workerReply with the detections.
type workerReply struct {
	Info       string             `json:"info,omitempty"`
	Error      string             `json:"error,omitempty"`
	Detections []vision.Detection `json:"detections,omitempty"`
}

func writeMsg(w io.Writer, parts ...[]byte) error {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	var hdr [4]byte
	binary.BigEndian.PutUint32(hdr[:], uint32(n))
	if _, err := w.Write(hdr[:]); err != nil {
		return err
	}
	for _, p := range parts {
		if _, err := w.Write(p); err != nil {
			return err
		}
	}
	return nil
}

// lowerPriority sets the niceness of every thread of this process (Linux
// schedules threads, and a thread started later inherits its parent's). It
// goes round until a pass finds every thread done, in case the runtime
// started one meanwhile.
func lowerPriority(nice int) error {
	for pass := 0; pass < 10; pass++ {
		tasks, err := os.ReadDir("/proc/self/task")
		if err != nil {
			return err
		}
		changed := false
		for _, t := range tasks {
			tid, err := strconv.Atoi(t.Name())
			if err != nil {
				continue
			}
			// getpriority's raw value is 20 - nice.
			if p, err := syscall.Getpriority(syscall.PRIO_PROCESS, tid); err == nil && 20-p == nice {
				continue
			}
			if err := syscall.Setpriority(syscall.PRIO_PROCESS, tid, nice); err != nil && !errors.Is(err, syscall.ESRCH) {
				return err
			}
			changed = true
		}
		if !changed {
			return nil
		}
	}
	return nil
}

func readMsg(r io.Reader, max int, buf []byte) ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := int(binary.BigEndian.Uint32(hdr[:]))
	if n > max {
		return nil, fmt.Errorf("message of %d bytes exceeds %d", n, max)
	}
	if cap(buf) < n {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	_, err := io.ReadFull(r, buf)
	return buf, err
}

// WorkerNice is the scheduling niceness of model workers. Detection
// yields the CPU to the live video, the API and the database: on a machine
// short of cores the analysis falls behind (it always takes the newest
// frame, and says how far behind it is) rather than the video wall
// stuttering. Idle cores still go to detection in full.
const WorkerNice = 10

// WorkerMain runs a model worker on stdin/stdout and returns its exit code.
func WorkerMain() int {
	if err := lowerPriority(WorkerNice); err != nil {
		fmt.Fprintln(os.Stderr, "worker: lowering its priority:", err)
	}
	SetThreads(1)
	in := bufio.NewReaderSize(os.Stdin, 1<<20)
	out := bufio.NewWriter(os.Stdout)
	reply := func(r workerReply) bool {
		b, _ := json.Marshal(r)
		return writeMsg(out, b) == nil && out.Flush() == nil
	}
	raw, err := readMsg(in, 1<<16, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "worker: reading the model config:", err)
		return 2
	}
	var cfg ModelConfig
	if err := json.Unmarshal(raw, &cfg); err != nil {
		reply(workerReply{Error: "model config: " + err.Error()})
		return 2
	}
	m, err := loadModel(cfg)
	if err != nil {
		reply(workerReply{Error: err.Error()})
		return 2
	}
	defer m.close()
	if !reply(workerReply{Info: describe(m)}) {
		return 2
	}
	var buf []byte
	for {
		buf, err = readMsg(in, maxFrameBytes+reqHeader, buf)
		if err != nil {
			if errors.Is(err, io.EOF) {
				return 0
			}
			fmt.Fprintln(os.Stderr, "worker:", err)
			return 2
		}
		if len(buf) < reqHeader {
			reply(workerReply{Error: "short request"})
			continue
		}
		rows, cols := int(binary.BigEndian.Uint32(buf)), int(binary.BigEndian.Uint32(buf[4:]))
		netIn := image.Pt(int(binary.BigEndian.Uint32(buf[8:])), int(binary.BigEndian.Uint32(buf[12:])))
		if rows <= 0 || cols <= 0 || rows > 1<<15 || cols > 1<<15 || rows*cols*3 != len(buf)-reqHeader {
			reply(workerReply{Error: fmt.Sprintf("request: %dx%d does not match %d bytes", cols, rows, len(buf)-reqHeader)})
			continue
		}
		if netIn.X < 0 || netIn.Y < 0 || netIn.X > 4096 || netIn.Y > 4096 {
			reply(workerReply{Error: fmt.Sprintf("request: network input %dx%d out of range", netIn.X, netIn.Y)})
			continue
		}
		img, err := gocv.NewMatFromBytes(rows, cols, gocv.MatTypeCV8UC3, buf[reqHeader:])
		if err != nil {
			reply(workerReply{Error: err.Error()})
			continue
		}
		dets, err := m.detect(img, netIn)
		img.Close()
		r := workerReply{Detections: dets}
		if err != nil {
			r.Error = err.Error()
		}
		if !reply(r) {
			return 0
		}
	}
}

// Remote runs a model in a worker process (this executable, started
// again with a marker in its environment) and talks to it over pipes. A
// crash — OpenCV aborting on a malformed model, a segfault in a layer —
// ends the worker, not smarteye: Detect reports it with the worker's last
// words, and the worker is restarted after a backoff that doubles up to a
// minute. A Remote is safe for concurrent use; requests are serialised.
type Remote struct {
	cfg     ModelConfig
	exe     string
	log     *slog.Logger
	timeout time.Duration

	mu      sync.Mutex
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	stdout  *os.File
	reader  *bufio.Reader
	stderr  *tail
	info    string
	lastErr error
	retryAt time.Time
	backoff time.Duration
	buf     []byte
	crashes int
}

// ErrWorkerDown is wrapped by Detect's error while a crashed or unloadable
// model waits for its next restart.
var ErrWorkerDown = errors.New("model worker down")

// NewRemote prepares a model; the worker starts on the first Detect (or
// Start). timeout bounds one detection (default 30 s: a hung worker is killed).
func NewRemote(cfg ModelConfig, timeout time.Duration, log *slog.Logger) (*Remote, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("model worker: %w", err)
	}
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Remote{cfg: cfg, exe: exe, timeout: timeout, log: log.With("model", cfg.Name()), backoff: time.Second}, nil
}

// Name is the model's name.
func (r *Remote) Name() string { return r.cfg.Name() }

// Start starts the worker and loads the model, reporting why it failed.
func (r *Remote) Start() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd != nil {
		return nil
	}
	return r.start()
}

// Status reports the worker's health: the model's description when
// loaded, else the last error.
func (r *Remote) Status() (info string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd != nil {
		return r.info, nil
	}
	return "", r.lastErr
}

// Crashes counts the worker's abnormal exits.
func (r *Remote) Crashes() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.crashes
}

func (r *Remote) start() error {
	cmd := exec.Command(r.exe)
	// GOTRACEBACK=none: an abort in OpenCV is explained by OpenCV's own
	// message, not by goroutine dumps.
	cmd.Env = append(os.Environ(), workerEnv+"=1", "GOTRACEBACK=none")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return err
	}
	cmd.Stdout = pw
	r.stderr = &tail{}
	cmd.Stderr = r.stderr
	if err := cmd.Start(); err != nil {
		pr.Close()
		pw.Close()
		return r.failed(fmt.Errorf("model worker: %w", err))
	}
	pw.Close()
	r.cmd, r.stdin, r.stdout, r.reader = cmd, stdin, pr, bufio.NewReader(pr)
	cfg, _ := json.Marshal(r.cfg)
	var reply workerReply
	if err := r.roundTrip(30*time.Second, &reply, cfg); err != nil {
		return r.failed(r.crashed("loading", err))
	}
	if reply.Error != "" {
		r.stop()
		return r.failed(fmt.Errorf("%s: %s", r.cfg.Name(), reply.Error))
	}
	r.info, r.lastErr, r.backoff = reply.Info, nil, time.Second
	r.log.Info("model loaded", "pid", cmd.Process.Pid, "info", reply.Info)
	return nil
}

// failed records err and schedules the next start.
func (r *Remote) failed(err error) error {
	r.lastErr = err
	r.retryAt = time.Now().Add(r.backoff)
	r.backoff = min(2*r.backoff, time.Minute)
	r.log.Warn("model worker down", "err", err, "retry_in", time.Until(r.retryAt).Round(time.Second))
	return err
}

// crashed stops the worker after a failed exchange and explains it.
func (r *Remote) crashed(while string, err error) error {
	state := r.stop()
	r.crashes++
	msg := fmt.Sprintf("%s: model worker failed while %s", r.cfg.Name(), while)
	if state != "" {
		msg += " (" + state + ")"
	}
	if last := r.stderr.String(); last != "" {
		msg += ": " + last
	} else if err != nil {
		msg += ": " + err.Error()
	}
	return errors.New(msg)
}

// stop kills the worker and returns how it ended.
func (r *Remote) stop() string {
	if r.cmd == nil {
		return ""
	}
	r.stdin.Close()
	_ = r.cmd.Process.Kill()
	err := r.cmd.Wait()
	r.stdout.Close()
	r.cmd = nil
	if err != nil {
		return err.Error()
	}
	return "exited"
}

func (r *Remote) roundTrip(timeout time.Duration, reply *workerReply, parts ...[]byte) error {
	if err := writeMsg(r.stdin, parts...); err != nil {
		return err
	}
	_ = r.stdout.SetReadDeadline(time.Now().Add(timeout))
	b, err := readMsg(r.reader, 64<<20, r.buf)
	if err != nil {
		return err
	}
	r.buf = b
	return json.Unmarshal(b, reply)
}

// Detect runs the model on img (BGR) inside roi (all of it when empty).
func (r *Remote) Detect(img gocv.Mat, roi image.Rectangle) ([]vision.Detection, error) {
	return r.DetectAt(img, roi, 0)
}

// Scales reports whether the model runs at a size the caller chooses
// (NanoDet): DetectAt then resizes each region here, before it crosses
// to the worker, and its cost follows NetInput.
func (r *Remote) Scales() bool { return r.cfg.Kind == "nanodet" }

// Input is the model's configured input size (its longest side).
func (r *Remote) Input() int {
	c := r.cfg
	c.defaults()
	return c.Input
}

// DetectAt is Detect with the region scaled by scale first (NanoDet;
// see NetInput: 0 fits the model's input, 1 keeps the camera's pixels
// up to the input's size, 2 enlarges small tiles). Other models take the
// region as it is.
func (r *Remote) DetectAt(img gocv.Mat, roi image.Rectangle, scale float64) ([]vision.Detection, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd == nil {
		if time.Now().Before(r.retryAt) {
			return nil, fmt.Errorf("%w: %w", ErrWorkerDown, r.lastErr)
		}
		if err := r.start(); err != nil {
			return nil, err
		}
	}
	src := img
	if !roi.Empty() {
		roi = roi.Intersect(image.Rect(0, 0, img.Cols(), img.Rows()))
		if roi.Empty() {
			return nil, nil
		}
		region := img.Region(roi)
		src = region.Clone() // contiguous
		region.Close()
		defer src.Close()
	} else if !img.IsContinuous() {
		src = img.Clone()
		defer src.Close()
	}
	if src.Type() != gocv.MatTypeCV8UC3 {
		return nil, fmt.Errorf("%s: want a BGR frame, got Mat type %v", r.cfg.Name(), src.Type())
	}
	// A model that runs at a chosen size gets the region already scaled
	// to it: a 1080p frame crosses the pipe as 416×234, not 6 MB.
	send := src // what crosses to the worker
	var netIn image.Point
	factor := 1.0
	if r.Scales() {
		netIn, factor = NetInput(src.Cols(), src.Rows(), scale, r.Input())
		if w, h := int(float64(src.Cols())*factor+0.5), int(float64(src.Rows())*factor+0.5); factor != 1 {
			// A Mat of its own: the deferred Close above is bound to src's
			// address and must still free the region's clone.
			scaled := gocv.NewMat()
			defer scaled.Close()
			gocv.Resize(src, &scaled, image.Pt(min(max(w, 1), netIn.X), min(max(h, 1), netIn.Y)), 0, 0, gocv.InterpolationLinear)
			send = scaled
		}
	}
	pix, err := send.DataPtrUint8()
	if err != nil {
		return nil, err
	}
	var hdr [reqHeader]byte
	binary.BigEndian.PutUint32(hdr[:], uint32(send.Rows()))
	binary.BigEndian.PutUint32(hdr[4:], uint32(send.Cols()))
	binary.BigEndian.PutUint32(hdr[8:], uint32(netIn.X))
	binary.BigEndian.PutUint32(hdr[12:], uint32(netIn.Y))
	var reply workerReply
	if err := r.roundTrip(r.timeout, &reply, hdr[:], pix); err != nil {
		return nil, r.failed(r.crashed("detecting", err))
	}
	if reply.Error != "" {
		return nil, fmt.Errorf("%s: %s", r.cfg.Name(), reply.Error)
	}
	// The worker's boxes are in the pixels it was sent.
	sx := float64(send.Cols()) / float64(src.Cols())
	sy := float64(send.Rows()) / float64(src.Rows())
	for i := range reply.Detections {
		b := &reply.Detections[i].Box
		b.X, b.W = b.X/sx+float64(roi.Min.X), b.W/sx
		b.Y, b.H = b.Y/sy+float64(roi.Min.Y), b.H/sy
	}
	return reply.Detections, nil
}

// Close stops the worker.
func (r *Remote) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stop()
	return nil
}

// tail keeps the first lines a worker wrote to stderr, bounded: OpenCV's
// message comes first, then the Go runtime's dump of the abort.
type tail struct {
	mu  sync.Mutex
	buf []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if room := 8192 - len(t.buf); room > 0 {
		t.buf = append(t.buf, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

// String is the reason: C++'s "what():" line or OpenCV's "error:" line
// when there is one, otherwise the first line.
func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var first string
	for _, l := range strings.Split(string(t.buf), "\n") {
		l = strings.TrimSpace(l)
		if l == "" {
			continue
		}
		if first == "" {
			first = l
		}
		if i := strings.Index(l, "what():"); i >= 0 {
			return strings.TrimSpace(l[i+len("what():"):])
		}
		if strings.Contains(l, ") error: (") || strings.HasPrefix(l, "panic:") || strings.HasPrefix(l, "fatal error:") {
			return l
		}
	}
	return first
}
