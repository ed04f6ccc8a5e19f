//go:build !matprofile

package cv_test

// openMats is -1 without -tags matprofile: gocv does not count Mats then.
func openMats() int { return -1 }
