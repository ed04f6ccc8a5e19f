// Package vision is the pure-Go half of smarteye's video analysis: the
// detection types, the multi-object tracker, image-space zones and their
// events, and the decoding of YOLO output tensors (Darknet, YOLOv5,
// YOLOv8 layouts) with letterboxing and NMS. It has no cgo and touches no
// pixels: vision/cv holds the OpenCV detectors (HOG, motion, cascades,
// YOLO networks in a worker process), and vision/analysis runs them per
// camera on a shared pool.
package vision
