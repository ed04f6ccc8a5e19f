package tensor

import (
	"fmt"
	"math"
	"testing"
)

func TestHalfToFloat(t *testing.T) {
	for h, want := range map[uint16]float32{
		0x0000: 0, 0x3c00: 1, 0xc000: -2, 0x3555: 0.333251953125, 0x7bff: 65504,
		0x0001: 1.0 / (1 << 24), 0x8001: -1.0 / (1 << 24), 0x0400: 1.0 / (1 << 14),
		0x7c00: float32(math.Inf(1)), 0xfc00: float32(math.Inf(-1)),
	} {
		if got := HalfToFloat(h); got != want {
			t.Errorf("HalfToFloat(%#04x) = %v, want %v", h, got, want)
		}
	}
	if v := HalfToFloat(0x7e00); !math.IsNaN(float64(v)) {
		t.Errorf("HalfToFloat(NaN) = %v", v)
	}
	if v := HalfToFloat(0x8000); v != 0 || !math.Signbit(float64(v)) {
		t.Errorf("HalfToFloat(-0) = %v", v)
	}
}

func TestTranspose(t *testing.T) {
	x := &Tensor{Shape: []int64{2, 3}, Float: true, F: []float32{1, 2, 3, 4, 5, 6}}
	got := x.Transpose([]int{1, 0})
	if fmt.Sprint(got.Shape, got.F) != "[3 2] [1 4 2 5 3 6]" {
		t.Errorf("Transpose = %v %v", got.Shape, got.F)
	}
}

func TestBinaryBroadcasts(t *testing.T) {
	a := &Tensor{Shape: []int64{2, 2}, I: []int64{1, 2, 3, 4}}
	b := &Tensor{Shape: []int64{2}, I: []int64{10, 20}}
	got, err := Binary("mul", a, b)
	if err != nil || fmt.Sprint(got.Shape, got.I) != "[2 2] [10 40 30 80]" {
		t.Errorf("Binary = %v, %v", got, err)
	}
	if _, err := Binary("add", a, &Tensor{Shape: []int64{3}, I: []int64{1, 2, 3}}); err == nil {
		t.Error("shapes [2 2] and [3] broadcast")
	}
}
