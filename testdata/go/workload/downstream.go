package main

// The downstream scenario: on a goroutine of its own, payloads compressed
// with EncodeAll and each written at once to a TCP socket, a unix socket,
// a file and a pipe (the payload's downstream write), then one payload
// that is not written before the next payload is, which is written to the
// pipe. The truth says, for its caller, how many payloads, how many were
// followed by a write, the bytes written and what they went to.

import (
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"

	"github.com/klauspost/compress/zstd"
)

// downstreamTruth is what gozt is to report of one caller's downstream
// writes.
type downstreamTruth struct {
	Caller   string            `json:"caller,omitempty"`
	Route    string            `json:"route,omitempty"`
	Function string            `json:"function"`
	Payloads uint64            `json:"payloads"`
	Writes   uint64            `json:"writes"`
	Bytes    uint64            `json:"bytes"`
	Kinds    map[string]uint64 `json:"kinds"`
}

// drained is a peer that reads and discards everything sent to it.
func drained(c net.Conn) {
	go func() {
		io.Copy(io.Discard, c)
		c.Close()
	}()
}

// listenAndDial connects to a new listener of `network` at `addr`, its
// accepted side drained.
func listenAndDial(network, addr string) (net.Conn, net.Listener) {
	ln, err := net.Listen(network, addr)
	if err != nil {
		panic(err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			drained(c)
		}
	}()
	c, err := net.Dial(network, ln.Addr().String())
	if err != nil {
		panic(err)
	}
	return c, ln
}

// downstreamPayload compresses `size` bytes: one payload, its caller
// this function.
//
//go:noinline
func downstreamPayload(r *recorder, d *downstreamTruth, enc *zstd.Encoder, size int) []byte {
	src := compressible(size, int64(size))
	out := enc.EncodeAll(src, nil)
	r.add(fnEncodeAll, len(src), len(out), false, true)
	d.Payloads++
	return out
}

func downstreamRound(r *recorder, enc *zstd.Encoder) *downstreamTruth {
	d := &downstreamTruth{
		Caller:   "main.downstreamPayload",
		Function: fnEncodeAll,
		Kinds:    map[string]uint64{},
	}
	dir, err := os.MkdirTemp("", "workload-downstream")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	tcp, tln := listenAndDial("tcp", "127.0.0.1:0")
	defer tln.Close()
	unix, uln := listenAndDial("unix", filepath.Join(dir, "sock"))
	defer uln.Close()
	file, err := os.Create(filepath.Join(dir, "blob"))
	if err != nil {
		panic(err)
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		panic(err)
	}
	var piped sync.WaitGroup
	piped.Add(1)
	go func() {
		defer piped.Done()
		io.Copy(io.Discard, pr)
	}()
	payload := func(size int) []byte { return downstreamPayload(r, d, enc, size) }
	written := func(kind string, w io.Writer, b []byte) {
		n, err := w.Write(b)
		if err != nil || n != len(b) {
			panic(err)
		}
		d.Writes++
		d.Bytes += uint64(n)
		d.Kinds[kind]++
	}
	for i, w := range []struct {
		kind string
		w    io.Writer
	}{{"tcp", tcp}, {"unix", unix}, {"file", file}, {"pipe", pw}} {
		written(w.kind, w.w, payload(3000+1000*i))
	}
	payload(5000)
	written("pipe", pw, payload(6000))
	tcp.Close()
	unix.Close()
	file.Close()
	pw.Close()
	piped.Wait()
	pr.Close()
	return d
}
