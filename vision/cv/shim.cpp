#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include <opencv2/core.hpp>
#include <opencv2/objdetect.hpp>

#include "shim.h"

static void set_err(char **err, const char *what) {
	if (err != nullptr) {
		*err = strdup(what);
	}
}

se_hog se_hog_new(char **err) {
	try {
		cv::HOGDescriptor *h = new cv::HOGDescriptor();
		// getDefaultPeopleDetector returns the 3,781 coefficients by value:
		// setSVMDetector copies them into the descriptor.
		std::vector<float> coeffs = cv::HOGDescriptor::getDefaultPeopleDetector();
		h->setSVMDetector(coeffs);
		return h;
	} catch (const std::exception &e) {
		set_err(err, e.what());
	} catch (...) {
		set_err(err, "unknown C++ exception");
	}
	return nullptr;
}

void se_hog_free(se_hog h) { delete static_cast<cv::HOGDescriptor *>(h); }

int se_hog_detect(se_hog h, void *img, int rx, int ry, int rw, int rh,
	double hit_threshold, int stride, int padding, double scale, double group_threshold,
	se_rect *rects, int max, char **err) {
	try {
		cv::HOGDescriptor *hog = static_cast<cv::HOGDescriptor *>(h);
		cv::Mat *m = static_cast<cv::Mat *>(img);
		cv::Mat roi = *m;
		if (rw > 0 && rh > 0) {
			roi = (*m)(cv::Rect(rx, ry, rw, rh) & cv::Rect(0, 0, m->cols, m->rows));
		} else {
			rx = ry = 0;
		}
		std::vector<cv::Rect> found;
		std::vector<double> weights;
		hog->detectMultiScale(roi, found, weights, hit_threshold, cv::Size(stride, stride),
			cv::Size(padding, padding), scale, group_threshold, false);
		int n = (int)found.size();
		for (int i = 0; i < n && i < max; i++) {
			rects[i].x = found[i].x + rx;
			rects[i].y = found[i].y + ry;
			rects[i].w = found[i].width;
			rects[i].h = found[i].height;
			rects[i].weight = i < (int)weights.size() ? weights[i] : 0;
		}
		return n;
	} catch (const std::exception &e) {
		set_err(err, e.what());
	} catch (...) {
		set_err(err, "unknown C++ exception");
	}
	return -1;
}

void se_set_threads(int n) { cv::setNumThreads(n); }
