// Package decode turns compressed video access units (H.264, H.265, MJPEG)
// into BGR frames in gocv Mats with libavcodec and libswscale (cgo).
//
// A Decoder is used by one goroutine. It decodes only what is asked for:
// an access unit fed with want=false is still decoded when later frames
// depend on it, but non-reference frames are skipped and nothing is
// converted to BGR; with Keyframes set, only random-access units are
// decoded at all. After a decode error it waits for the next keyframe
// (recovery), counting what it threw away.
//
// This package and vision/cv are the only ones with C code.
package decode

/*
#cgo pkg-config: libavcodec libavutil libswscale
#include <libavcodec/avcodec.h>
#include <libavutil/imgutils.h>
#include <libavutil/log.h>
#include <libswscale/swscale.h>

static int se_averror_eagain(void) { return AVERROR(EAGAIN); }
static int se_averror_eof(void) { return AVERROR_EOF; }

// se_open opens a single-threaded decoder: streams are decoded in parallel
// by their own goroutines, and frame threads would add a frame of latency
// each. Streams without B-frames give one picture out per unit in.
static AVCodecContext *se_open(enum AVCodecID id, int *err) {
	const AVCodec *codec = avcodec_find_decoder(id);
	if (codec == NULL) {
		*err = AVERROR_DECODER_NOT_FOUND;
		return NULL;
	}
	AVCodecContext *ctx = avcodec_alloc_context3(codec);
	if (ctx == NULL) {
		*err = AVERROR(ENOMEM);
		return NULL;
	}
	ctx->thread_count = 1;
	ctx->err_recognition = 0;
	*err = avcodec_open2(ctx, codec, NULL);
	if (*err < 0) {
		avcodec_free_context(&ctx);
		return NULL;
	}
	return ctx;
}

static void se_set_skip(AVCodecContext *ctx, int skip) { ctx->skip_frame = skip; }

// se_convert converts the decoded frame into a packed BGR buffer of the
// frame's size with the given row stride, reusing *sws across calls.
static int se_convert(struct SwsContext **sws, AVFrame *f, uint8_t *dst, int stride) {
	*sws = sws_getCachedContext(*sws, f->width, f->height, f->format,
		f->width, f->height, AV_PIX_FMT_BGR24, SWS_FAST_BILINEAR, NULL, NULL, NULL);
	if (*sws == NULL) {
		return AVERROR(EINVAL);
	}
	uint8_t *planes[4] = {dst, NULL, NULL, NULL};
	int strides[4] = {stride, 0, 0, 0};
	return sws_scale(*sws, (const uint8_t *const *)f->data, f->linesize, 0, f->height, planes, strides);
}
*/
import "C"

import (
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"
	"unsafe"

	"gocv.io/x/gocv"
)

func init() {
	// libav logs to stderr by default (every concealed macroblock of a
	// damaged stream); errors are counted and reported by the caller.
	C.av_log_set_level(C.AV_LOG_QUIET)
}

// Codec is a video codec the decoder handles.
type Codec string

// Supported codecs; names as in SDP (and gortsplib's format.Codec()).
const (
	H264  Codec = "H264"
	H265  Codec = "H265"
	MJPEG Codec = "M-JPEG"
)

// ErrSkipped is returned by Decode for an access unit that was not decoded
// because nothing needs it (waiting for a keyframe, or Keyframes mode).
var ErrSkipped = errors.New("skipped")

// Stats are a decoder's counters since it was created.
type Stats struct {
	Units     uint64 `json:"units"`     // access units fed
	Decoded   uint64 `json:"decoded"`   // frames the codec produced
	Converted uint64 `json:"converted"` // frames converted to BGR (wanted)
	Skipped   uint64 `json:"skipped"`   // units not decoded (non-reference, not keyframes, waiting for a keyframe)
	Errors    uint64 `json:"errors"`    // units the codec rejected
}

// Decoder decodes one stream. It is not safe for concurrent use, but Stats
// may be read from any goroutine.
type Decoder struct {
	codec Codec
	ctx   *C.AVCodecContext
	pkt   *C.AVPacket
	frame *C.AVFrame
	sws   *C.struct_SwsContext

	// Keyframes restricts decoding to random-access units: the cheapest
	// mode, for analysis rates at or below the keyframe rate.
	Keyframes bool

	needKey bool   // after an error or at the start: wait for a keyframe
	buf     []byte // Annex-B assembly of the unit, reused

	units, decoded, converted, skipped, errs atomic.Uint64
}

// New opens a decoder for codec.
func New(codec Codec) (*Decoder, error) {
	var id C.enum_AVCodecID
	switch codec {
	case H264:
		id = C.AV_CODEC_ID_H264
	case H265:
		id = C.AV_CODEC_ID_HEVC
	case MJPEG:
		id = C.AV_CODEC_ID_MJPEG
	default:
		return nil, fmt.Errorf("decode: unsupported codec %q", codec)
	}
	var cerr C.int
	ctx := C.se_open(id, &cerr)
	if ctx == nil {
		return nil, fmt.Errorf("decode: open %s decoder: %w", codec, averror(cerr))
	}
	d := &Decoder{codec: codec, ctx: ctx, pkt: C.av_packet_alloc(), frame: C.av_frame_alloc(), needKey: codec != MJPEG}
	if d.pkt == nil || d.frame == nil {
		d.Close()
		return nil, errors.New("decode: out of memory")
	}
	return d, nil
}

// Codec is the codec the decoder was opened for.
func (d *Decoder) Codec() Codec { return d.codec }

// Close frees the decoder. It is safe to call twice.
func (d *Decoder) Close() {
	if d.ctx != nil {
		C.avcodec_free_context(&d.ctx)
	}
	if d.pkt != nil {
		C.av_packet_free(&d.pkt)
	}
	if d.frame != nil {
		C.av_frame_free(&d.frame)
	}
	if d.sws != nil {
		C.sws_freeContext(d.sws)
		d.sws = nil
	}
}

// Reset makes the decoder wait for the next keyframe: call it when units
// were lost (a consumer queue overflowed), so that no picture is decoded
// against missing references.
func (d *Decoder) Reset() {
	if d.codec != MJPEG {
		d.needKey = true
	}
	C.avcodec_flush_buffers(d.ctx)
}

// Stats returns the counters.
func (d *Decoder) Stats() Stats {
	return Stats{Units: d.units.Load(), Decoded: d.decoded.Load(), Converted: d.converted.Load(), Skipped: d.skipped.Load(), Errors: d.errs.Load()}
}

// Decode feeds one access unit: the NAL units of one picture without start
// codes (as RTP depacketisers produce them), or one JPEG image. key says
// whether the unit is a random-access point (an IDR/IRAP picture with its
// parameter sets). When want is true and the unit yields a picture, the
// picture is written as BGR into dst (reallocated when its size changes)
// and Decode returns true. When want is false the decoder keeps its
// reference chain but skips non-reference pictures and the conversion.
//
// A unit that cannot be decoded returns an error; the decoder then skips
// everything up to the next keyframe and returns ErrSkipped for it.
func (d *Decoder) Decode(au [][]byte, key, want bool, dst *gocv.Mat) (bool, error) {
	d.units.Add(1)
	if d.codec != MJPEG && (d.needKey || d.Keyframes) && !key {
		d.skipped.Add(1)
		return false, ErrSkipped
	}
	d.buf = d.buf[:0]
	for _, nalu := range au {
		if d.codec != MJPEG {
			d.buf = append(d.buf, 0, 0, 0, 1)
		}
		d.buf = append(d.buf, nalu...)
	}
	if len(d.buf) == 0 {
		d.skipped.Add(1)
		return false, ErrSkipped
	}
	// libavcodec reads up to AV_INPUT_BUFFER_PADDING_SIZE bytes past the end.
	n := len(d.buf)
	d.buf = append(d.buf, make([]byte, C.AV_INPUT_BUFFER_PADDING_SIZE)...)

	skip := C.int(C.AVDISCARD_DEFAULT)
	if !want {
		skip = C.AVDISCARD_NONREF
	}
	C.se_set_skip(d.ctx, skip)

	var pin runtime.Pinner
	pin.Pin(&d.buf[0])
	d.pkt.data = (*C.uint8_t)(unsafe.Pointer(&d.buf[0]))
	d.pkt.size = C.int(n)
	ret := C.avcodec_send_packet(d.ctx, d.pkt)
	d.pkt.data, d.pkt.size = nil, 0
	pin.Unpin()
	if ret < 0 && ret != C.se_averror_eagain() {
		return d.fail(fmt.Errorf("decode %s: %w", d.codec, averror(ret)))
	}
	if key {
		d.needKey = false
	}

	got, before := false, d.decoded.Load()
	for {
		ret = C.avcodec_receive_frame(d.ctx, d.frame)
		if ret == C.se_averror_eagain() || ret == C.se_averror_eof() {
			break
		}
		if ret < 0 {
			return d.fail(fmt.Errorf("decode %s: %w", d.codec, averror(ret)))
		}
		d.decoded.Add(1)
		if want {
			if err := d.convert(dst); err != nil {
				C.av_frame_unref(d.frame)
				return false, err
			}
			got = true
		}
		C.av_frame_unref(d.frame)
	}
	if !want && d.decoded.Load() == before {
		d.skipped.Add(1) // a non-reference picture libavcodec discarded
	}
	return got, nil
}

func (d *Decoder) fail(err error) (bool, error) {
	d.errs.Add(1)
	if d.codec != MJPEG {
		d.needKey = true
	}
	C.avcodec_flush_buffers(d.ctx)
	return false, err
}

func (d *Decoder) convert(dst *gocv.Mat) error {
	w, h := int(d.frame.width), int(d.frame.height)
	if w <= 0 || h <= 0 || w > 16384 || h > 16384 {
		return fmt.Errorf("decode %s: implausible frame size %dx%d", d.codec, w, h)
	}
	if dst.Empty() || dst.Cols() != w || dst.Rows() != h || dst.Type() != gocv.MatTypeCV8UC3 {
		dst.Close()
		*dst = gocv.NewMatWithSize(h, w, gocv.MatTypeCV8UC3)
	}
	data, err := dst.DataPtrUint8()
	if err != nil || len(data) < h*dst.Step() {
		return fmt.Errorf("decode %s: destination frame: %v", d.codec, err)
	}
	ret := C.se_convert(&d.sws, d.frame, (*C.uint8_t)(unsafe.Pointer(&data[0])), C.int(dst.Step()))
	if ret < 0 {
		return fmt.Errorf("decode %s: convert to BGR: %w", d.codec, averror(ret))
	}
	d.converted.Add(1)
	return nil
}

// averror is a libav error code as a Go error.
type averror C.int

func (e averror) Error() string {
	var buf [C.AV_ERROR_MAX_STRING_SIZE]C.char
	C.av_strerror(C.int(e), &buf[0], C.size_t(len(buf)))
	return C.GoString(&buf[0])
}
