package live

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"
	"go.uber.org/goleak"

	"github.com/smarteye/smarteye/ingest/rtsp"
	"github.com/smarteye/smarteye/ingest/sim"
	"github.com/smarteye/smarteye/telemetry/testkit"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/pion/transport/v4/deadline.(*Deadline).handler"))
}

// waitFor waits on a condition, with a deadline scaled for load.
var waitFor = testkit.WaitFor

func au(key bool, n int) *rtsp.AccessUnit {
	return &rtsp.AccessUnit{Codec: rtsp.H264, Key: key, NALUs: [][]byte{{byte(n)}}, Time: time.Unix(int64(n), 0)}
}

// A viewer starts at the last keyframe, and one that falls behind skips to
// the next keyframe without delaying the relay or the other viewers.
func TestRelayKeyframesAndSlowViewers(t *testing.T) {
	r := NewRelay("c")
	for i := 0; i < 5; i++ {
		r.Push(au(i == 0 || i == 3, i))
	}
	v, err := r.Join()
	if err != nil {
		t.Fatal(err)
	}
	if got := <-v.Units(); !got.Key || got.NALUs[0][0] != 3 {
		t.Fatalf("first unit %d key=%v, want the keyframe 3", got.NALUs[0][0], got.Key)
	}
	if got := <-v.Units(); got.NALUs[0][0] != 4 {
		t.Fatalf("second unit %d", got.NALUs[0][0])
	}
	fast, _ := r.Join()
	<-fast.Units()
	<-fast.Units()
	// v stops reading: more than its queue arrives.
	for i := 5; i < 5+viewerQueue+10; i++ {
		r.Push(au(false, i%256))
		select {
		case <-fast.Units():
		default:
			t.Fatal("the fast viewer missed a unit")
		}
	}
	if st := r.Stats(); st.Dropped == 0 || st.Viewers != 2 {
		t.Fatalf("stats %+v", st)
	}
	for len(v.Units()) > 0 {
		<-v.Units()
	}
	r.Push(au(false, 1)) // still waiting for a keyframe: not delivered
	if len(v.Units()) != 0 {
		t.Fatal("a slow viewer got a unit before the next keyframe")
	}
	r.Push(au(true, 2))
	if got := <-v.Units(); !got.Key {
		t.Fatal("the slow viewer resumed on a non-keyframe")
	}
	v.Leave()
	<-v.Done()
	r.close()
	<-fast.Done()
	if _, err := r.Join(); err != ErrClosed {
		t.Fatalf("join after close: %v", err)
	}
}

// live runs ffmpeg → the sim RTSP server → an rtsp.Stream → a relay.
func liveRelay(t *testing.T, codec string) *Relay {
	t.Helper()
	srv := &sim.RTSPServer{}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	pub := &sim.Publisher{Source: "testsrc2", Width: 320, Height: 240, FPS: 25, GOP: 25, Codec: codec, URL: srv.URL("cam")}
	wg.Add(1)
	go func() { defer wg.Done(); pub.Run(ctx) }()
	waitFor(t, 15*time.Second, "ffmpeg to publish", func() bool { return srv.Ready("cam") })
	s, err := rtsp.New(rtsp.Config{Camera: "cam", URL: srv.URL("cam"), Transport: rtsp.TransportTCP})
	if err != nil {
		t.Fatal(err)
	}
	q := s.Subscribe("live", 256)
	r := NewRelay("cam")
	wg.Add(2)
	go func() { defer wg.Done(); s.Run(ctx) }()
	go func() { defer wg.Done(); r.Run(ctx, q) }()
	return r
}

func ffprobe(t *testing.T, file string, args ...string) map[string]any {
	t.Helper()
	out, err := exec.Command("ffprobe", append([]string{"-v", "error", "-of", "json", "-count_frames", "-select_streams", "v:0",
		"-show_entries", "stream=codec_name,width,height,nb_read_frames"}, append(args, file)...)...).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", file, err)
	}
	var r struct{ Streams []map[string]any }
	if err := json.Unmarshal(out, &r); err != nil || len(r.Streams) != 1 {
		t.Fatalf("ffprobe: %v %s", err, out)
	}
	return r.Streams[0]
}

// The fragmented MP4 a browser's MSE would receive is read back by ffprobe,
// an independent demuxer and decoder: every fragment's picture decodes.
func TestFragmentedMP4FromRTSP(t *testing.T) {
	for _, codec := range []string{"h264", "h265"} {
		t.Run(codec, func(t *testing.T) {
			r := liveRelay(t, codec)
			waitFor(t, 15*time.Second, "pictures", func() bool { return r.Stats().Units > 0 })
			v, err := r.Join()
			if err != nil {
				t.Fatal(err)
			}
			defer v.Leave()
			var file bytes.Buffer
			var mux *Muxer
			const n = 60
			var first, last *rtsp.AccessUnit
			var frags []*fmp4.Part
			var prev *rtsp.AccessUnit // the unit whose fragment the next call returns
			for len(frags) < n {
				var u *rtsp.AccessUnit
				select {
				case u = <-v.Units():
				case <-time.After(10 * time.Second):
					t.Fatalf("%d fragments, then nothing", len(frags))
				}
				if mux == nil {
					if mux, err = NewMuxer(u); err != nil {
						t.Fatal(err)
					}
					file.Write(mux.Init())
					first = u
				}
				b, err := mux.Fragment(u)
				if err != nil {
					t.Fatal(err)
				}
				held := prev
				prev = u
				if b == nil {
					if held != nil {
						t.Fatal("no fragment after the first unit")
					}
					continue
				}
				file.Write(b)
				var parts fmp4.Parts
				if err := parts.Unmarshal(b); err != nil || len(parts) != 1 {
					t.Fatalf("fragment %d: %v", len(frags), err)
				}
				frags = append(frags, parts[0])
				last = held
			}
			// The fragments tile the timeline: each picture lasts until the
			// next one's decode time. A gap (a guessed duration that was too
			// short) makes MSE drop every picture up to the next keyframe.
			for i := 1; i < len(frags); i++ {
				a, b := frags[i-1].Tracks[0], frags[i].Tracks[0]
				if end := a.BaseTime + uint64(a.Samples[0].Duration); end != b.BaseTime {
					t.Fatalf("fragment %d ends at %d, fragment %d starts at %d", i-1, end, i, b.BaseTime)
				}
			}
			if w, h := mux.Size(); w != 320 || h != 240 {
				t.Fatalf("size %dx%d", w, h)
			}
			wantMIME := map[string]string{"h264": `video/mp4; codecs="avc1.`, "h265": `video/mp4; codecs="hvc1.1.6.L`}[codec]
			if !strings.HasPrefix(mux.MIME(), wantMIME) || !mux.Origin().Equal(first.Time) {
				t.Fatalf("mime %q origin %v", mux.MIME(), mux.Origin())
			}
			path := filepath.Join(t.TempDir(), "live.mp4")
			os.WriteFile(path, file.Bytes(), 0o644)
			st := ffprobe(t, path)
			if st["codec_name"] != map[string]string{"h264": "h264", "h265": "hevc"}[codec] || st["width"].(float64) != 320 || st["nb_read_frames"] != "60" {
				t.Fatalf("ffprobe: %v", st)
			}
			// The media timeline is the capture timeline: the last frame's
			// time, as ffprobe reads it, is its capture time minus the origin.
			out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "frame=pts_time", "-of", "csv=p=0", path).Output()
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.Fields(string(out))
			var pt float64
			json.Unmarshal([]byte(lines[len(lines)-1]), &pt)
			want := last.Time.Sub(first.Time).Seconds()
			if d := pt - want; d > 0.002 || d < -0.002 {
				t.Fatalf("last frame at %.3f s, captured %.3f s after the first", pt, want)
			}
		})
	}
}

// A real WebRTC session with another WebRTC stack (pion as the browser):
// offer, answer, ICE and DTLS on loopback, then H.264 that an independent
// decoder (ffprobe) reads, with RTP timestamps that are capture times.
func TestWebRTCSession(t *testing.T) {
	r := liveRelay(t, "h264")
	waitFor(t, 15*time.Second, "pictures", func() bool { return r.Stats().Units > 0 })
	w, err := NewWebRTC(WebRTCConfig{UDPAddress: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()

	// The viewer, as a browser would be: recvonly video, H.264.
	me := &webrtc.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	api := webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithSettingEngine(se))
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
		t.Fatal(err)
	}
	type frame struct {
		data []byte
		ts   uint32
		at   time.Time
	}
	frames := make(chan frame, 256)
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		var pkt codecs.H264Packet
		var cur []byte
		for {
			p, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			b, err := pkt.Unmarshal(p.Payload)
			if err != nil {
				continue
			}
			cur = append(cur, b...)
			if p.Marker {
				select {
				case frames <- frame{cur, p.Timestamp, time.Now()}:
				default:
				}
				cur = nil
			}
		}
	})
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	pc.SetLocalDescription(offer)
	<-gathered
	answer, id, err := w.Offer(r, pc.LocalDescription().SDP)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(answer, "H264") || w.Sessions() != 1 {
		t.Fatalf("answer without H264 or no session:\n%s", answer)
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		t.Fatal(err)
	}
	var stream bytes.Buffer
	for i := 0; i < 50; i++ {
		select {
		case f := <-frames:
			stream.Write(f.data)
			// The RTP timestamp is the capture time: within a second of the
			// arrival (a random RTP offset would be hours away). It may be a
			// little ahead: an arrival-anchored clock starts from a first
			// picture that came late.
			lag := int32(RTPTime(f.at) - f.ts)
			if lag < -90000 || lag > 90000 {
				t.Fatalf("frame %d: RTP timestamp %d is %d ticks from its arrival", i, f.ts, lag)
			}
		case <-time.After(15 * time.Second):
			t.Fatalf("%d frames over WebRTC, then nothing (state %s)", i, pc.ConnectionState())
		}
	}
	path := filepath.Join(t.TempDir(), "webrtc.h264")
	os.WriteFile(path, stream.Bytes(), 0o644)
	st := ffprobe(t, path, "-f", "h264")
	if st["codec_name"] != "h264" || st["width"].(float64) != 320 || st["nb_read_frames"] != "50" {
		t.Fatalf("ffprobe: %v", st)
	}
	if !w.End(id) || w.Sessions() != 0 || w.End(id) {
		t.Fatal("End")
	}
	// An offer without video, and garbage, are refused.
	if _, _, err := w.Offer(r, "v=0\r\n"); err == nil {
		t.Fatal("an offer without video was answered")
	}
	if _, _, err := w.Offer(r, "m=video garbage"); err == nil {
		t.Fatal("a garbage offer was answered")
	}
}
