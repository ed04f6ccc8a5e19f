package record

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	segments    *prometheus.CounterVec
	bytes       *prometheus.CounterVec
	writeErrors *prometheus.CounterVec
	gaps        *prometheus.CounterVec
	deleted     *prometheus.CounterVec
	recovered   prometheus.Counter
	indexErrors prometheus.Counter
	free        prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer, r *Recorder) metrics {
	m := metrics{
		segments: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "smarteye_record_segments_total",
			Help: "Segments finished, by camera."}, []string{"camera"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "smarteye_record_video_bytes_total",
			Help: "Video payload bytes recorded, by camera."}, []string{"camera"}),
		writeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "smarteye_record_write_errors_total",
			Help: "Segment writes that failed (a full or failing disk), by camera."}, []string{"camera"}),
		gaps: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "smarteye_record_gaps_total",
			Help: "Units the recorder lost because it fell behind (its segment ends there), by camera."}, []string{"camera"}),
		deleted: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "smarteye_record_deleted_segments_total",
			Help: "Segments deleted by retention, by reason: age or budget."}, []string{"reason"}),
		recovered: prometheus.NewCounter(prometheus.CounterOpts{Name: "smarteye_record_recovered_segments_total",
			Help: "Unfinished segments salvaged after a crash."}),
		indexErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "smarteye_record_index_errors_total",
			Help: "Failed writes to the recordings index (retried)."}),
		free: prometheus.NewGauge(prometheus.GaugeOpts{Name: "smarteye_record_disk_free_bytes",
			Help: "Free space on the recordings disk."}),
	}
	if reg != nil {
		reg.MustRegister(m.segments, m.bytes, m.writeErrors, m.gaps, m.deleted, m.recovered, m.indexErrors, m.free,
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "smarteye_record_stored_bytes", Help: "Bytes of finished segments on disk."},
				func() float64 { r.mu.Lock(); defer r.mu.Unlock(); return float64(r.total) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "smarteye_record_paused", Help: "1 while the low-disk guard stops recording."},
				func() float64 {
					if r.Paused() {
						return 1
					}
					return 0
				}),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "smarteye_record_index_pending", Help: "Segment additions and deletions waiting for the index (database)."},
				func() float64 { r.mu.Lock(); defer r.mu.Unlock(); return float64(len(r.toIndex) + len(r.toDelete)) }))
	}
	return m
}
