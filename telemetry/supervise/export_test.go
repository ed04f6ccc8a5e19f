package supervise

import "github.com/prometheus/client_golang/prometheus/testutil"

// Failures is how many checks failed, for the tests outside the package.
func Failures(m *Manager) float64 { return testutil.ToFloat64(m.failures) }

// PeerPresenceTTL is how long another node's presence counts untold.
const PeerPresenceTTL = peerPresenceTTL
