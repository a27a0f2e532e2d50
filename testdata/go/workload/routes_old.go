//go:build !go1.23

package main

import "net/http"

// handleRoutes registers the scenario's routes as path prefixes: this Go's
// Request has no Pattern.
func handleRoutes(mux *http.ServeMux, h, kv http.Handler) {
	mux.Handle("/gzip/", h)
	mux.Handle("/zstd/", h)
	mux.Handle("/kv", kv)
}

// requestPattern is "": this Go's Request has no Pattern.
func requestPattern(req *http.Request) string { return "" }
