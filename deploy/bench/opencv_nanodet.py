# What a user would write instead of smarteye, for one camera, with the
# same trained model: OpenCV's Python bindings (Debian's python3-opencv)
# read the RTSP stream with cv2.VideoCapture, keep a MOG2 background model
# on a 320-pixel-wide grey copy, and when something moves run NanoDet (the
# ONNX model smarteye installs) on the whole frame, letterboxed to INPUT
# pixels square as NanoDet's own demo does, RATE times a second; the head
# is decoded with numpy (softmax over the distance bins, class-wise NMS).
# Usage: opencv_nanodet.py URL SECONDS RATE MODEL [INPUT]
# Prints one JSON line: frames read, frames analysed, people found, seconds.
import json
import os
import sys
import time

os.environ.setdefault("OPENCV_FFMPEG_CAPTURE_OPTIONS", "rtsp_transport;tcp")
import cv2  # noqa: E402
import numpy as np  # noqa: E402

url, seconds, rate, model = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
inp = int(sys.argv[5]) if len(sys.argv) > 5 else 416
cv2.setNumThreads(1)
net = cv2.dnn.readNetFromONNX(model)
outs_names = net.getUnconnectedOutLayersNames()
mean = np.array([103.53, 116.28, 123.675], np.float32)
std = np.array([57.375, 57.12, 58.395], np.float32)


def detect(img):
    h, w = img.shape[:2]
    s = inp / max(w, h)
    rw, rh = int(w * s + 0.5), int(h * s + 0.5)
    x = np.empty((inp, inp, 3), np.float32)
    x[:] = mean
    x[:rh, :rw] = cv2.resize(img, (rw, rh))
    net.setInput(((x - mean) / std).transpose(2, 0, 1)[None])
    # Pair each score tensor with its distance tensor by cell count.
    outs = net.forward(outs_names)
    found = []
    for o in outs:
        if o.shape[2] != 80:
            continue
        n = o.shape[1]
        stride = {(inp // 8) ** 2: 8, (inp // 16) ** 2: 16, (inp // 32) ** 2: 32}[n]
        dist = [q for q in outs if q.shape[1] == n and q.shape[2] != 80][0][0].reshape(n, 4, -1)
        sc = o[0]
        cls, best = sc.argmax(1), sc.max(1)
        keep = np.where(best > 0.4)[0]
        if keep.size == 0:
            continue
        e = np.exp(dist[keep] - dist[keep].max(2, keepdims=True))
        p = e / e.sum(2, keepdims=True)
        side = (p * np.arange(p.shape[2])).sum(2) * stride
        g = inp // stride
        cx, cy = (keep % g + 0.5) * stride, (keep // g + 0.5) * stride
        for k in range(keep.size):
            x0, y0 = cx[k] - side[k, 0], cy[k] - side[k, 1]
            found.append((int(cls[keep[k]]), float(best[keep[k]]),
                          [float(x0 / s), float(y0 / s), float((side[k, 0] + side[k, 2]) / s), float((side[k, 1] + side[k, 3]) / s)]))
    people = [f for f in found if f[0] == 0]
    idx = cv2.dnn.NMSBoxes([f[2] for f in people], [f[1] for f in people], 0.4, 0.6)
    return len(idx)


cap = cv2.VideoCapture(url, cv2.CAP_FFMPEG)
if not cap.isOpened():
    sys.exit("cannot open " + url)
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
    people += detect(frame)
print(json.dumps({"frames": frames, "analysed": analysed, "people": people, "seconds": time.monotonic() - start}))
