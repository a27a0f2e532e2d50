//go:build go1.23

// Go 1.22's ServeMux patterns: GOPATH builds default to Go 1.20's
// GODEBUG, which keeps the old mux.
//go:debug httpmuxgo121=0

package main

import "net/http"

// handleRoutes registers the scenario's routes: a path prefix, and a
// pattern with a method and wildcards.
func handleRoutes(mux *http.ServeMux, h, kv http.Handler) {
	mux.Handle("/gzip/", h)
	mux.Handle("GET /zstd/{kind}/{size}", h)
	mux.Handle("PUT /kv", kv)
}

// requestPattern is the pattern the mux matched req with.
func requestPattern(req *http.Request) string { return req.Pattern }
