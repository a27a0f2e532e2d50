package main

import (
	"bytes"
	stdgzip "compress/gzip"
	"fmt"
	"io"

	"github.com/klauspost/compress/zstd"
)

// lifecycleTruth is one caller's encoders (or decoders) of one library:
// what gozt's encoders table must say. A build is a constructor, or a
// reset that had to build its state (a gzip reader's first Reset, which
// gzip.NewReader is, inlined, from Go 1.21); a lazy build is state built
// at a payload's first call (gzip's flate compressor at its first Write,
// zstd's block encoders at its first EncodeAll).
type lifecycleTruth struct {
	Caller     string `json:"caller"`
	Library    string `json:"library"`
	Op         string `json:"op"`
	Builds     uint64 `json:"builds"`
	Resets     uint64 `json:"resets"`
	LazyBuilds uint64 `json:"lazy_builds"`
	Payloads   uint64 `json:"payloads"`
}

// lifecyclePayloads is how many payloads each lifecycle caller makes.
const lifecyclePayloads = 6

// gzipOut is what a writer's call left in buf. Each caller below makes its
// own calls of the library: the payloads' caller is the function that
// builds (or resets) their writers and readers.
func gzipOut(buf *bytes.Buffer, before int) int { return buf.Len() - before }

// gzipPerPayload builds a gzip writer for every payload: the finding's
// case.
//
// It returns the last stream, for the readers.
//
//go:noinline
func gzipPerPayload(r *recorder, src []byte) (*lifecycleTruth, []byte) {
	var buf bytes.Buffer
	for i := 0; i < lifecyclePayloads; i++ {
		buf.Reset()
		w, err := stdgzip.NewWriterLevel(&buf, stdgzip.DefaultCompression)
		if err != nil {
			panic(err)
		}
		before := buf.Len()
		if _, err := w.Write(src); err != nil {
			panic(err)
		}
		r.call(fnStdGzipW, "", len(src), gzipOut(&buf, before), false)
		before = buf.Len()
		if err := w.Close(); err != nil {
			panic(err)
		}
		r.call(fnStdGzipC, "", 0, gzipOut(&buf, before), false)
		r.payload(fnStdGzipC, len(src), buf.Len(), false, true, true)
	}
	return &lifecycleTruth{Caller: "main.gzipPerPayload", Library: "compress/gzip", Op: "compress",
		Builds: lifecyclePayloads, LazyBuilds: lifecyclePayloads, Payloads: lifecyclePayloads}, buf.Bytes()
}

// gzipPooled keeps one gzip writer and resets it for each payload: the
// control, which the finding leaves alone.
//
//go:noinline
func gzipPooled(r *recorder, src []byte) *lifecycleTruth {
	var buf bytes.Buffer
	w, err := stdgzip.NewWriterLevel(&buf, stdgzip.DefaultCompression)
	if err != nil {
		panic(err)
	}
	for i := 0; i < lifecyclePayloads; i++ {
		buf.Reset()
		w.Reset(&buf)
		before := buf.Len()
		if _, err := w.Write(src); err != nil {
			panic(err)
		}
		r.call(fnStdGzipW, "", len(src), gzipOut(&buf, before), false)
		before = buf.Len()
		if err := w.Close(); err != nil {
			panic(err)
		}
		r.call(fnStdGzipC, "", 0, gzipOut(&buf, before), false)
		r.payload(fnStdGzipC, len(src), buf.Len(), false, true, true)
	}
	return &lifecycleTruth{Caller: "main.gzipPooled", Library: "compress/gzip", Op: "compress",
		Builds: 1, Resets: lifecyclePayloads, LazyBuilds: 1, Payloads: lifecyclePayloads}
}

// gzipReadPerPayload builds a gzip reader for every payload (read here,
// by a loop of Reads in this function).
//
//go:noinline
func gzipReadPerPayload(r *recorder, gz, src []byte) *lifecycleTruth {
	for i := 0; i < lifecyclePayloads; i++ {
		zr, err := stdgzip.NewReader(bytes.NewReader(gz))
		if err != nil {
			panic(err)
		}
		var got []byte
		p := make([]byte, 4096)
		for {
			n, err := zr.Read(p)
			r.call(fnStdGzipR, "", 0, n, false)
			r.call(fnStdFlateR, fnStdGzipR, 0, n, false)
			got = append(got, p[:n]...)
			if err == io.EOF {
				break
			}
			if err != nil {
				panic(err)
			}
		}
		if !bytes.Equal(got, src) {
			panic("gzip lifecycle read")
		}
		r.payload(fnStdGzipR, len(got), -1, false, false, true)
	}
	return &lifecycleTruth{Caller: "main.gzipReadPerPayload", Library: "compress/gzip", Op: "decompress",
		Builds: lifecyclePayloads, Payloads: lifecyclePayloads}
}

// gzipReadPooled resets one reader (its zero value) for every payload: its
// first Reset builds the flate decompressor, the others reset it.
//
//go:noinline
func gzipReadPooled(r *recorder, gz, src []byte) *lifecycleTruth {
	var zr stdgzip.Reader
	for i := 0; i < lifecyclePayloads; i++ {
		if err := zr.Reset(bytes.NewReader(gz)); err != nil {
			panic(err)
		}
		var got []byte
		p := make([]byte, 4096)
		for {
			n, err := zr.Read(p)
			r.call(fnStdGzipR, "", 0, n, false)
			r.call(fnStdFlateR, fnStdGzipR, 0, n, false)
			got = append(got, p[:n]...)
			if err == io.EOF {
				break
			}
			if err != nil {
				panic(err)
			}
		}
		if !bytes.Equal(got, src) {
			panic("gzip lifecycle read")
		}
		r.payload(fnStdGzipR, len(got), -1, false, false, true)
	}
	return &lifecycleTruth{Caller: "main.gzipReadPooled", Library: "compress/gzip", Op: "decompress",
		Builds: 1, Resets: lifecyclePayloads - 1, Payloads: lifecyclePayloads}
}

// zstdPerPayload builds a zstd encoder for every EncodeAll, and a decoder
// for every DecodeAll: each encoder builds its block encoder at its first
// EncodeAll.
//
//go:noinline
func zstdPerPayload(r *recorder, src []byte) []*lifecycleTruth {
	for i := 0; i < lifecyclePayloads; i++ {
		e, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
		if err != nil {
			panic(err)
		}
		out := e.EncodeAll(src, nil)
		r.add(fnEncodeAll, len(src), len(out), false, true)
		d, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1))
		if err != nil {
			panic(err)
		}
		plain, err := d.DecodeAll(out, nil)
		if err != nil || !bytes.Equal(plain, src) {
			panic(fmt.Sprint("zstd lifecycle: ", err))
		}
		r.add(fnDecodeAll, len(out), len(plain), false, false)
		d.Close()
	}
	return []*lifecycleTruth{
		{Caller: "main.zstdPerPayload", Library: "github.com/klauspost/compress/zstd", Op: "compress",
			Builds: lifecyclePayloads, LazyBuilds: lifecyclePayloads, Payloads: lifecyclePayloads},
		{Caller: "main.zstdPerPayload", Library: "github.com/klauspost/compress/zstd", Op: "decompress",
			Builds: lifecyclePayloads, Payloads: lifecyclePayloads},
	}
}

// lifecycleRound runs each lifecycle caller once, on this goroutine.
func lifecycleRound(r *recorder) []*lifecycleTruth {
	src := compressible(6000, 7)
	perPayload, gz := gzipPerPayload(r, src)
	out := []*lifecycleTruth{
		perPayload,
		gzipPooled(r, src),
		gzipReadPerPayload(r, gz, src),
		gzipReadPooled(r, gz, src),
	}
	return append(out, zstdPerPayload(r, src)...)
}
