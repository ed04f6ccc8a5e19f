package geo

import (
	"errors"
	"fmt"
	"math"
)

// Intrinsics is a pinhole camera model with optional radial distortion:
// focal lengths and principal point in pixels of an image Width × Height.
// Camera coordinates: x right, y down, z forward (along the optical axis).
type Intrinsics struct {
	Width, Height int
	Fx, Fy        float64 // focal lengths, pixels
	Cx, Cy        float64 // principal point, pixels
	// K1, K2 are the radial distortion coefficients (Brown–Conrady, as
	// OpenCV's calibrateCamera reports them); 0 for a rectilinear lens.
	K1, K2 float64
}

// FromFOV makes intrinsics from horizontal and vertical fields of view in
// degrees; vfov 0 means square pixels.
func FromFOV(width, height int, hfov, vfov float64) (Intrinsics, error) {
	if width <= 0 || height <= 0 {
		return Intrinsics{}, fmt.Errorf("camera model: image size %dx%d", width, height)
	}
	if hfov <= 0 || hfov >= 179 || vfov < 0 || vfov >= 179 {
		return Intrinsics{}, fmt.Errorf("camera model: field of view %g×%g°: want (0, 179)", hfov, vfov)
	}
	fx := float64(width) / 2 / math.Tan(rad(hfov)/2)
	fy := fx
	if vfov > 0 {
		fy = float64(height) / 2 / math.Tan(rad(vfov)/2)
	}
	return Intrinsics{Width: width, Height: height, Fx: fx, Fy: fy, Cx: float64(width) / 2, Cy: float64(height) / 2}, nil
}

// FromFocal makes intrinsics from the lens' focal length and the sensor's
// size, both in millimetres.
func FromFocal(width, height int, focal, sensorW, sensorH float64) (Intrinsics, error) {
	if width <= 0 || height <= 0 || focal <= 0 || sensorW <= 0 || sensorH <= 0 {
		return Intrinsics{}, errors.New("camera model: focal length, sensor size and image size must be positive")
	}
	return Intrinsics{Width: width, Height: height, Fx: focal / sensorW * float64(width), Fy: focal / sensorH * float64(height),
		Cx: float64(width) / 2, Cy: float64(height) / 2}, nil
}

// HFOV is the horizontal field of view in degrees.
func (in Intrinsics) HFOV() float64 { return deg(2 * math.Atan(float64(in.Width)/2/in.Fx)) }

// Validate checks the model.
func (in Intrinsics) Validate() error {
	if in.Width <= 0 || in.Height <= 0 || !(in.Fx > 0) || !(in.Fy > 0) || math.IsInf(in.Fx+in.Fy+in.Cx+in.Cy+in.K1+in.K2, 0) || math.IsNaN(in.Cx+in.Cy+in.K1+in.K2) {
		return errors.New("camera model: focal lengths must be positive and every value finite")
	}
	if math.Abs(in.K1) > 2 || math.Abs(in.K2) > 2 {
		return errors.New("camera model: distortion coefficients beyond ±2 are not a lens")
	}
	return nil
}

// Ray is the direction, in camera coordinates, of the light that reached
// pixel (u, v); z is 1.
func (in Intrinsics) Ray(u, v float64) [3]float64 {
	x, y := (u-in.Cx)/in.Fx, (v-in.Cy)/in.Fy
	if in.K1 != 0 || in.K2 != 0 {
		// Undistort by fixed-point iteration: x_d = x·(1 + k1 r² + k2 r⁴).
		xd, yd := x, y
		for range 20 {
			r2 := x*x + y*y
			f := 1 + in.K1*r2 + in.K2*r2*r2
			if f <= 0.1 {
				break
			}
			x, y = xd/f, yd/f
		}
	}
	return [3]float64{x, y, 1}
}

// Pixel is where a direction in camera coordinates lands in the image; ok
// is false behind the camera.
func (in Intrinsics) Pixel(d [3]float64) (u, v float64, ok bool) {
	if d[2] <= 1e-9 {
		return 0, 0, false
	}
	x, y := d[0]/d[2], d[1]/d[2]
	if in.K1 != 0 || in.K2 != 0 {
		r2 := x*x + y*y
		f := 1 + in.K1*r2 + in.K2*r2*r2
		x, y = x*f, y*f
	}
	return in.Cx + in.Fx*x, in.Cy + in.Fy*y, true
}

func rad(d float64) float64 { return d * math.Pi / 180 }
func deg(r float64) float64 { return r * 180 / math.Pi }
