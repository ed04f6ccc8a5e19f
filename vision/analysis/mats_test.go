//go:build !matprofile

package analysis_test

// openMats is -1 without -tags matprofile: gocv does not count Mats then.
func openMats() int { return -1 }
