# The independent baseline for smarteye's HOG people detector: OpenCV's own
# HOGDescriptor through Debian's python3-opencv, run on the same raw BGR
# frames with the same parameters. Prints one JSON list of boxes per frame.
# Usage: hog_baseline.py FILE WIDTH HEIGHT [STRIDE PADDING SCALE GROUP]
import json
import sys

import cv2
import numpy as np

path, w, h = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
stride, padding, scale, group = 8, 8, 1.05, 2
if len(sys.argv) > 4:
    stride, padding, scale, group = int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6]), int(sys.argv[7])
cv2.setNumThreads(1)
hog = cv2.HOGDescriptor()
hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())
data = np.fromfile(path, dtype=np.uint8)
size = w * h * 3
for i in range(len(data) // size):
    frame = data[i * size:(i + 1) * size].reshape((h, w, 3))
    rects, weights = hog.detectMultiScale(
        frame, hitThreshold=0, winStride=(stride, stride), padding=(padding, padding),
        scale=scale, groupThreshold=group)
    print(json.dumps([[int(v) for v in r] for r in rects]))
