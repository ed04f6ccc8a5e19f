# What a user would write instead of smarteye, for one camera: OpenCV's
# Python bindings (Debian's python3-opencv) read the RTSP stream with
# cv2.VideoCapture, keep a MOG2 background model on a 320-pixel-wide grey
# copy, and run the HOG people detector (same parameters as smarteye) on
# the frame when something moves, RATE times a second.
# Usage: opencv_people.py URL SECONDS RATE
# Prints one JSON line: frames read, frames analysed, people found, seconds.
import json
import os
import sys
import time

os.environ.setdefault("OPENCV_FFMPEG_CAPTURE_OPTIONS", "rtsp_transport;tcp")
import cv2  # noqa: E402

url, seconds, rate = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
cv2.setNumThreads(1)
cap = cv2.VideoCapture(url, cv2.CAP_FFMPEG)
if not cap.isOpened():
    sys.exit("cannot open " + url)
hog = cv2.HOGDescriptor()
hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())
mog = cv2.createBackgroundSubtractorMOG2(history=100, varThreshold=25, detectShadows=False)
kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
frames = analysed = people = 0
start = time.monotonic()
next_at = start
while time.monotonic() - start < seconds:
    ok, frame = cap.read()
    if not ok:
        break
    frames += 1
    now = time.monotonic()
    if now < next_at:
        continue
    next_at = now + 1 / rate
    analysed += 1
    h, w = frame.shape[:2]
    small = cv2.resize(frame, (320, int(h * 320 / w)), interpolation=cv2.INTER_AREA)
    grey = cv2.GaussianBlur(cv2.cvtColor(small, cv2.COLOR_BGR2GRAY), (5, 5), 0)
    mask = cv2.dilate(cv2.morphologyEx(mog.apply(grey), cv2.MORPH_OPEN, kernel), kernel, iterations=2)
    if analysed > 5 and cv2.countNonZero(mask) == 0:
        continue
    rects, _ = hog.detectMultiScale(frame, hitThreshold=0, winStride=(8, 8), padding=(8, 8), scale=1.05, groupThreshold=2)
    people += len(rects)
print(json.dumps({"frames": frames, "analysed": analysed, "people": people, "seconds": time.monotonic() - start}))
