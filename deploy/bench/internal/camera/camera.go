// Package camera is the cameras' side of the benchmarks: an RTSP server
// with n ffmpeg publishers looping a clip, run in a process of its own so
// that its CPU is not counted as smarteye's. It measures nothing itself.
package camera

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/smarteye/smarteye/ingest/sim"
)

// ServerEnv makes the benchmark binary a separate RTSP server process
// ("ADDR CLIP N"): the cameras' side, whose CPU is not ours.
const ServerEnv = "SMARTEYE_BENCH_RTSP_SERVER"

// Serve runs the camera side: an RTSP server and n ffmpeg publishers
// copying the clip (no re-encoding), until stdin closes.
func Serve(spec string) error {
	f := strings.Fields(spec)
	if len(f) != 3 {
		return fmt.Errorf("%s=%q: want ADDR CLIP N", ServerEnv, spec)
	}
	n, _ := strconv.Atoi(f[2])
	srv := &sim.RTSPServer{Address: f[0]}
	if err := srv.Start(); err != nil {
		return err
	}
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	for i := range n {
		p := &sim.Publisher{Source: f[1], Copy: true, URL: srv.URL("cam" + strconv.Itoa(i))}
		wg.Add(1)
		go func() { defer wg.Done(); p.Run(ctx) }()
	}
	for deadline := time.Now().Add(30 * time.Second); ; {
		ready := 0
		for i := range n {
			if srv.Ready("cam" + strconv.Itoa(i)) {
				ready++
			}
		}
		if ready == n {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d publishers ready", ready, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
	fmt.Println("ready", srv.Addr())
	bufio.NewReader(os.Stdin).ReadString('\n') // until the parent goes
	cancel()
	wg.Wait()
	return nil
}

// Start starts the camera side with n streams of clip, in a new process
// of this binary (which must call Serve when ServerEnv is set); stop ends
// it. addr is its RTSP server's, whose paths are cam0 … cam(n-1).
func Start(ctx context.Context, clip string, n int) (addr string, stop func(), err error) {
	exe, err := os.Executable()
	if err != nil {
		return "", nil, err
	}
	cmd := exec.CommandContext(ctx, exe)
	cmd.Env = append(os.Environ(), ServerEnv+"=127.0.0.1:0 "+clip+" "+strconv.Itoa(n))
	in, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	stop = func() {
		in.Close()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if f := strings.Fields(line); err != nil || len(f) != 2 || f[0] != "ready" {
		stop()
		return "", nil, fmt.Errorf("camera side: %q %v", line, err)
	}
	return strings.Fields(line)[1], stop, nil
}
