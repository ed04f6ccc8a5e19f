//go:build matprofile

package analysis_test

import "gocv.io/x/gocv"

// openMats counts gocv Mats not yet closed (`make test` builds with
// -tags matprofile).
func openMats() int { return gocv.MatProfile.Count() }
