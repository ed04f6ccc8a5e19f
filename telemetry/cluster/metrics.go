package cluster

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	quorum, alive                                       prometheus.Gauge
	claims, claimConflicts, released, lost, badMessages prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, n *Node) *metrics {
	m := &metrics{
		quorum: prometheus.NewGauge(prometheus.GaugeOpts{Name: "smarteye_cluster_quorum",
			Help: "1 while this node hears a majority of the cluster's nodes (it runs work only then)."}),
		alive: prometheus.NewGauge(prometheus.GaugeOpts{Name: "smarteye_cluster_nodes_alive",
			Help: "Nodes this node hears, itself included."}),
		claims: prometheus.NewCounter(prometheus.CounterOpts{Name: "smarteye_cluster_claims_total",
			Help: "Keys (cameras, links, singletons) this node took."}),
		claimConflicts: prometheus.NewCounter(prometheus.CounterOpts{Name: "smarteye_cluster_claim_conflicts_total",
			Help: "Claims refused because another node's came first (or the bucket could not be written)."}),
		released: prometheus.NewCounter(prometheus.CounterOpts{Name: "smarteye_cluster_handovers_total",
			Help: "Keys this node handed over (moved to a better placed node, or drained)."}),
		lost: prometheus.NewCounter(prometheus.CounterOpts{Name: "smarteye_cluster_lost_total",
			Help: "Keys this node stopped without handing them over: cut off from the cluster, or taken by another node."}),
		badMessages: prometheus.NewCounter(prometheus.CounterOpts{Name: "smarteye_cluster_bad_messages_total",
			Help: "Cluster messages that could not be read."}),
	}
	if reg != nil {
		reg.MustRegister(m.quorum, m.alive, m.claims, m.claimConflicts, m.released, m.lost, m.badMessages,
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "smarteye_cluster_owned",
				Help: "Keys this node owns now."}, func() float64 { return float64(len(n.Owned())) }))
	}
	return m
}
