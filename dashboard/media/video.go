package media

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/coder/websocket"

	"github.com/smarteye/smarteye/dashboard/internal/api"
	"github.com/smarteye/smarteye/ingest/live"
	"github.com/smarteye/smarteye/ingest/rtsp"
)

// Relays finds a camera's live relay; the video runtime implements it.
type Relays interface {
	Relay(camera string) (*live.Relay, bool)
}

// WebRTC answers WHEP offers with a session over a camera's relay
// (live.WebRTC).
type WebRTC interface {
	Offer(relay *live.Relay, offer string) (answer, id string, err error)
	End(id string) bool
	Sessions() int
}

const (
	// videoWriteTimeout ends an MSE viewer whose connection stopped draining.
	videoWriteTimeout = 10 * time.Second
	// pingInterval is how often an idle stream is pinged.
	pingInterval  = 20 * time.Second
	maxOfferBytes = 64 << 10
)

func (h *API) relay(w http.ResponseWriter, r *http.Request) (*live.Relay, bool) {
	id := r.PathValue("id")
	if h.cfg.Relays == nil {
		api.WriteError(w, http.StatusNotFound, "no camera "+strconv.Quote(id))
		return nil, false
	}
	rl, ok := h.cfg.Relays.Relay(id)
	if !ok {
		api.WriteError(w, http.StatusNotFound, "no camera "+strconv.Quote(id))
		return nil, false
	}
	return rl, true
}

// MSEInit is the first (text) message of a live MSE stream; the
// initialisation segment follows as a binary message, then one binary
// fragment per picture.
type MSEInit struct {
	Type   string `json:"type"` // "init"
	Camera string `json:"camera"`
	Codec  string `json:"codec"`
	MIME   string `json:"mime"`
	Width  int    `json:"width"`
	Height int    `json:"height"`
	// Origin is the capture time at media time 0, in Unix milliseconds.
	Origin float64 `json:"origin"`
}

// LiveMSE is GET /api/v1/cameras/{id}/live (WebSocket): fragmented MP4 for Media
// Source Extensions, as the camera sent it.
func (h *API) LiveMSE(w http.ResponseWriter, r *http.Request) {
	rl, ok := h.relay(w, r)
	if !ok {
		return
	}
	if rl.Codec() == rtsp.MJPEG {
		api.WriteError(w, http.StatusUnsupportedMediaType, "this camera sends MJPEG, which MP4 live does not carry")
		return
	}
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(time.Time{})
	c, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	defer c.CloseNow()
	h.viewers.Inc()
	defer h.viewers.Dec()
	ctx := c.CloseRead(r.Context())
	v, err := rl.Join()
	if err != nil {
		c.Close(websocket.StatusGoingAway, "the camera's stream has ended")
		return
	}
	defer v.Leave()
	write := func(typ websocket.MessageType, b []byte) error {
		wctx, cancel := context.WithTimeout(ctx, videoWriteTimeout)
		defer cancel()
		return c.Write(wctx, typ, b)
	}
	ping := time.NewTicker(pingInterval)
	defer ping.Stop()
	var mux *live.Muxer
	for {
		var au *rtsp.AccessUnit
		select {
		case <-ctx.Done():
			c.Close(websocket.StatusNormalClosure, "")
			return
		case <-v.Done():
			c.Close(websocket.StatusGoingAway, "the camera's stream has ended")
			return
		case <-ping.C:
			pctx, cancel := context.WithTimeout(ctx, videoWriteTimeout)
			err := c.Ping(pctx)
			cancel()
			if err != nil {
				return
			}
			continue
		case au = <-v.Units():
		}
		if mux == nil {
			if !au.Key {
				continue
			}
			if mux, err = live.NewMuxer(au); err != nil {
				h.log.Warn("live video", "camera", rl.Camera(), "err", err)
				c.Close(websocket.StatusUnsupportedData, truncate(err.Error(), 120))
				return
			}
			wd, ht := mux.Size()
			init, _ := json.Marshal(MSEInit{Type: "init", Camera: rl.Camera(), Codec: au.Codec, MIME: mux.MIME(), Width: wd, Height: ht,
				Origin: float64(mux.Origin().UnixMicro()) / 1000})
			if write(websocket.MessageText, init) != nil || write(websocket.MessageBinary, mux.Init()) != nil {
				return
			}
		}
		frag, err := mux.Fragment(au)
		switch {
		case errors.Is(err, live.ErrNeedKeyframe):
			mux = nil // start again at the next keyframe, with a new init
			continue
		case err != nil:
			h.log.Warn("live video", "camera", rl.Camera(), "err", err)
			c.Close(websocket.StatusInternalError, truncate(err.Error(), 120))
			return
		}
		if frag != nil && write(websocket.MessageBinary, frag) != nil {
			return
		}
	}
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// WHEPOffer is POST /api/v1/cameras/{id}/whep: a WHEP offer (application/sdp) answered
// with 201, the answer, and the session's URL in Location.
func (h *API) WHEPOffer(w http.ResponseWriter, r *http.Request) {
	if !api.OwnOrigin(w, r) || !h.cfg.WebRTCLimit.Allow(w, r) {
		return
	}
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != "application/sdp" {
		api.WriteError(w, http.StatusUnsupportedMediaType, "send the offer as Content-Type application/sdp")
		return
	}
	rl, ok := h.relay(w, r)
	if !ok {
		return
	}
	if h.cfg.WebRTC == nil {
		api.WriteError(w, http.StatusServiceUnavailable, "WebRTC is off on this server; use the MSE stream")
		return
	}
	offer, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxOfferBytes))
	if err != nil {
		api.WriteError(w, http.StatusRequestEntityTooLarge, "the offer is over 64 KiB")
		return
	}
	answer, id, err := h.cfg.WebRTC.Offer(rl, string(offer))
	switch {
	case errors.Is(err, live.ErrNotPlayable):
		api.WriteError(w, http.StatusUnsupportedMediaType, "this camera sends "+rl.Codec()+"; WebRTC here carries H.264 only")
		return
	case errors.Is(err, live.ErrTooManySessions):
		api.WriteError(w, http.StatusServiceUnavailable, "too many video sessions; try again later")
		return
	case errors.Is(err, live.ErrBadOffer):
		api.WriteError(w, http.StatusBadRequest, err.Error())
		return
	case err != nil:
		h.log.Warn("whep", "camera", rl.Camera(), "err", err)
		api.WriteError(w, http.StatusServiceUnavailable, "no WebRTC session: "+err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/sdp")
	w.Header().Set("Location", "/api/v1/cameras/"+url.PathEscape(rl.Camera())+"/whep/"+id)
	w.WriteHeader(http.StatusCreated)
	io.WriteString(w, answer)
}

// WHEPDelete is DELETE /api/v1/cameras/{id}/whep/{session}: it ends a
// WHEP session.
func (h *API) WHEPDelete(w http.ResponseWriter, r *http.Request) {
	if !api.OwnOrigin(w, r) {
		return
	}
	id := r.PathValue("session")
	if h.cfg.WebRTC == nil || strings.ContainsAny(id, "/.") || !h.cfg.WebRTC.End(id) {
		api.WriteError(w, http.StatusNotFound, "no such session")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
