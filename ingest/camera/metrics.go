package camera

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/smarteye/smarteye/ingest/rtsp"
)

// Metrics: one series per configured camera (a bounded set).
var (
	camUpDesc       = prometheus.NewDesc("smarteye_camera_up", "1 when the camera's stream is live, 0 otherwise.", []string{"camera"}, nil)
	camFramesDesc   = prometheus.NewDesc("smarteye_camera_frames_total", "Pictures received.", []string{"camera"}, nil)
	camBytesDesc    = prometheus.NewDesc("smarteye_camera_bytes_total", "Video payload bytes received.", []string{"camera"}, nil)
	camLostDesc     = prometheus.NewDesc("smarteye_camera_rtp_lost_total", "RTP packets lost (sequence gaps).", []string{"camera"}, nil)
	camRTPErrDesc   = prometheus.NewDesc("smarteye_camera_rtp_errors_total", "RTP packets that could not be depacketised.", []string{"camera"}, nil)
	camReconnDesc   = prometheus.NewDesc("smarteye_camera_reconnects_total", "Reconnection attempts.", []string{"camera"}, nil)
	camDropsDesc    = prometheus.NewDesc("smarteye_camera_queue_dropped_total", "Access units dropped because a consumer was too slow.", []string{"camera"}, nil)
	camDecErrDesc   = prometheus.NewDesc("smarteye_camera_decode_errors_total", "Access units the decoder rejected.", []string{"camera"}, nil)
	camAnalysedDesc = prometheus.NewDesc("smarteye_camera_analysed_frames_total", "Frames analysed.", []string{"camera"}, nil)
	camGatedDesc    = prometheus.NewDesc("smarteye_camera_gated_frames_total", "Analysed frames without motion, where no detector ran.", []string{"camera"}, nil)
	camBusyDesc     = prometheus.NewDesc("smarteye_camera_analysis_busy_total", "Frames due for analysis while it was still busy (skipped).", []string{"camera"}, nil)
	camDetErrDesc   = prometheus.NewDesc("smarteye_camera_detector_errors_total", "Detector failures (a model that cannot load or crashed).", []string{"camera"}, nil)
	camDetsDesc     = prometheus.NewDesc("smarteye_camera_detections_total", "Tracked detections reported.", []string{"camera"}, nil)
	camDetectDesc   = prometheus.NewDesc("smarteye_camera_detect_seconds", "Duration of the last detection.", []string{"camera"}, nil)
	camRestartsDesc = prometheus.NewDesc("smarteye_camera_analysis_restarts_total", "Times the analysis failed and was started again.", []string{"camera"}, nil)
)

// collector reports the cameras' metrics.
type collector struct{ s *Supervisor }

// Describe implements prometheus.Collector.
func (collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{camUpDesc, camFramesDesc, camBytesDesc, camLostDesc, camRTPErrDesc, camReconnDesc, camDropsDesc,
		camDecErrDesc, camAnalysedDesc, camGatedDesc, camBusyDesc, camDetErrDesc, camDetsDesc, camDetectDesc, camRestartsDesc} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (m collector) Collect(ch chan<- prometheus.Metric) {
	counter := func(d *prometheus.Desc, x uint64, id string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(x), id)
	}
	for _, c := range m.s.cams {
		id := c.cfg.ID
		r := c.current()
		if r == nil {
			continue // it runs in another process
		}
		st := r.stream.Stats()
		up := 0.0
		if st.Status == rtsp.StatusLive {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(camUpDesc, prometheus.GaugeValue, up, id)
		counter(camFramesDesc, st.Frames, id)
		counter(camBytesDesc, st.Bytes, id)
		counter(camLostDesc, st.RTPLost, id)
		counter(camRTPErrDesc, st.RTPErrors, id)
		counter(camReconnDesc, st.Reconnects, id)
		counter(camDropsDesc, st.QueueDrops, id)
		if r.analyzer != nil {
			as := r.analyzer.Stats()
			counter(camDecErrDesc, as.DecodeErrors, id)
			counter(camAnalysedDesc, as.Analysed, id)
			counter(camGatedDesc, as.Gated, id)
			counter(camBusyDesc, as.Busy, id)
			counter(camDetErrDesc, as.DetectErrors, id)
			counter(camDetsDesc, as.Detections, id)
			ch <- prometheus.MustNewConstMetric(camDetectDesc, prometheus.GaugeValue, as.DetectTime.Seconds(), id)
			c.mu.Lock()
			counter(camRestartsDesc, c.restarts, id)
			c.mu.Unlock()
		}
	}
}
