// Package vision turns decoded frames into tracked detections: the motion
// gate, the detector interface and pool, the tracker and image-space zones.
// Only vision/cv uses cgo (gocv/OpenCV).
package vision
