// C interface of smarteye's OpenCV shims (shim.cpp). Every function catches
// C++ exceptions and reports them as a message: an OpenCV error must never
// unwind through cgo, which would abort the process.
#ifndef SMARTEYE_SHIM_H
#define SMARTEYE_SHIM_H

#ifdef __cplusplus
extern "C" {
#endif

typedef void *se_hog;

typedef struct {
	int x, y, w, h;
	double weight;
} se_rect;

// se_hog_new returns a HOG people detector with OpenCV's default
// coefficients copied into it (gocv's HOGDefaultPeopleDetector hands out a
// view of freed memory). NULL with *err set on failure.
se_hog se_hog_new(char **err);
void se_hog_free(se_hog h);

// se_hog_detect runs detectMultiScale on the cv::Mat* img (BGR or grey)
// inside the rectangle (rx, ry, rw, rh); rw <= 0 means the whole image.
// It fills up to max rects (in image coordinates) and returns how many
// it found (possibly more than max), or -1 with *err set.
int se_hog_detect(se_hog h, void *img, int rx, int ry, int rw, int rh,
	double hit_threshold, int stride, int padding, double scale, double group_threshold,
	se_rect *rects, int max, char **err);

// se_set_threads sets OpenCV's worker threads (0: sequential); smarteye
// parallelises across streams instead.
void se_set_threads(int n);

#ifdef __cplusplus
}
#endif
#endif
