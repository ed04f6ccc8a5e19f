package dashboard

import (
	"embed"
	"io/fs"
	"net/http"
	"path"
)

// The web app, built by `make build` (npm ci + vite build in
// dashboard/web) into web/dist and embedded here. web/dist/.keep keeps
// the folder (and so the embed) valid before the first build.
//
//go:embed all:web/dist
var webDist embed.FS

// webApp serves the built app, or says how to build it.
func webApp() (http.Handler, bool) {
	dist, err := fs.Sub(webDist, "web/dist")
	if err != nil {
		return nil, false
	}
	if _, err := fs.Stat(dist, "index.html"); err != nil {
		return nil, false
	}
	files := http.FileServer(http.FS(dist))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Hashed asset names never change: cache them; index.html always fresh.
		if path.Dir(r.URL.Path) == "/assets" {
			w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		} else {
			w.Header().Set("Cache-Control", "no-cache")
		}
		files.ServeHTTP(w, r)
	}), true
}
