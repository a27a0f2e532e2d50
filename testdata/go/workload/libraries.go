package main

import (
	"bytes"
	"compress/bzip2"
	"compress/lzw"
	_ "embed"
	"fmt"
	"io"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/pgzip"
	"github.com/ulikunitz/xz"
)

const (
	fnBrotliW = "github.com/andybalholm/brotli.(*Writer).Write"
	fnBrotliC = "github.com/andybalholm/brotli.(*Writer).Close"
	fnBrotliR = "github.com/andybalholm/brotli.(*Reader).Read"
	fnBzip2R  = "compress/bzip2.(*reader).Read"
	fnLzwW    = "compress/lzw.(*Writer).Write"
	fnLzwC    = "compress/lzw.(*Writer).Close"
	fnLzwR    = "compress/lzw.(*Reader).Read"
	fnXzW     = "github.com/ulikunitz/xz.(*Writer).Write"
	fnXzC     = "github.com/ulikunitz/xz.(*Writer).Close"
	fnXzR     = "github.com/ulikunitz/xz.(*Reader).Read"
	fnPgzipW  = "github.com/klauspost/pgzip.(*Writer).Write"
	fnPgzipC  = "github.com/klauspost/pgzip.(*Writer).Close"
	fnPgzipR  = "github.com/klauspost/pgzip.(*Reader).Read"
	fnPgzipWT = "github.com/klauspost/pgzip.(*Reader).WriteTo"
)

// textBz2 is 24,000 bytes of text compressed by the bzip2 program (Go's
// standard library decodes bzip2 only).
//
//go:embed text.bz2
var textBz2 []byte

// libraryRound drives the libraries beyond the first seven: brotli's
// writer (whose output gozt counts at its writes, as flate's) and reader,
// lzw's writer (its output goes through a bufio.Writer: not judged) and
// reader, bzip2's reader, whole and cut in half (it fails), and xz's
// writer (not judged) and reader, whole and cut in half, and pgzip's
// writer and reader (which work on goroutines of their own).
func libraryRound(r *recorder, buf *bytes.Buffer, src []byte) {
	roundTrip(r, stream{write: fnBrotliW, close: fnBrotliC, read: fnBrotliR, out: sinksOut}, buf, src,
		brotli.NewWriter(buf), nil, func(rd io.Reader) (io.Reader, error) { return brotli.NewReader(rd), nil })
	roundTrip(r, stream{write: fnLzwW, close: fnLzwC, read: fnLzwR, out: unknownOut}, buf, src,
		lzw.NewWriter(buf, lzw.LSB, 8), nil,
		func(rd io.Reader) (io.Reader, error) { return lzw.NewReader(rd, lzw.LSB, 8), nil })
	bz := stream{read: fnBzip2R}
	if got := readAll(r, bz, bzip2.NewReader(bytes.NewReader(textBz2)), false); len(got) != 24000 {
		panic("bzip2: 24000 bytes expected")
	}
	readAll(r, bz, bzip2.NewReader(bytes.NewReader(textBz2[:len(textBz2)/2])), true)
	xzRound(r, src)
	pgzipRound(r, buf, src)
}

// pgzipRound writes src as one pgzip stream (its header on this goroutine
// at the first Write, its block on the writer's own goroutine, its trailer
// in Close), reads it back with Read, then whole with WriteTo (io.Copy),
// and reads its first half (an error). pgzip's own goroutines compress and
// decode through klauspost's flate: no payload of this goroutine's.
func pgzipRound(r *recorder, buf *bytes.Buffer, src []byte) {
	s := stream{write: fnPgzipW, close: fnPgzipC, read: fnPgzipR, out: sinksOut}
	roundTrip(r, s, buf, src, pgzip.NewWriter(buf), nil,
		func(rd io.Reader) (io.Reader, error) { return pgzip.NewReader(rd) })
	gz := append([]byte(nil), buf.Bytes()...)
	zr, err := pgzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		panic(err)
	}
	var out bytes.Buffer
	n, err := io.Copy(&out, zr)
	if err != nil || !bytes.Equal(out.Bytes(), src) {
		panic(fmt.Sprint("pgzip WriteTo: ", n, err))
	}
	r.call(fnPgzipWT, "", 0, int(n), false)
	r.payload(fnPgzipWT, int(n), -1, false, false, true)
	cut, err := pgzip.NewReader(bytes.NewReader(gz[:len(gz)/2]))
	if err != nil {
		panic(err)
	}
	readAll(r, s, cut, true)
}

// xzRound writes src as one xz stream, reads it back, and reads its first
// half (an error). xz's constructor writes the stream's header, so the
// stream is written into a buffer of its own (writeAll resets its buffer
// before the first write).
func xzRound(r *recorder, src []byte) {
	s := stream{write: fnXzW, close: fnXzC, read: fnXzR, out: unknownOut}
	var out bytes.Buffer
	w, err := xz.NewWriter(&out)
	if err != nil {
		panic(err)
	}
	for _, p := range [][]byte{src[:3000], src[3000:]} {
		if n, err := w.Write(p); err != nil || n != len(p) {
			panic(fmt.Sprint("xz write: ", n, err))
		}
		r.call(s.write, "", len(p), 0, false)
	}
	if err := w.Close(); err != nil {
		panic(err)
	}
	r.call(s.close, "", 0, 0, false)
	r.payload(s.close, len(src), out.Len(), false, true, false)
	rd, err := xz.NewReader(bytes.NewReader(out.Bytes()))
	if err != nil {
		panic(err)
	}
	if !bytes.Equal(readAll(r, s, rd, false), src) {
		panic("xz round trip")
	}
	cut, err := xz.NewReader(bytes.NewReader(out.Bytes()[:out.Len()/2]))
	if err != nil {
		panic(err)
	}
	readAll(r, s, cut, true)
}
