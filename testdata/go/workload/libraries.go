package main

import (
	"bytes"
	"compress/bzip2"
	"compress/lzw"
	_ "embed"
	"io"

	"github.com/andybalholm/brotli"
)

const (
	fnBrotliW = "github.com/andybalholm/brotli.(*Writer).Write"
	fnBrotliC = "github.com/andybalholm/brotli.(*Writer).Close"
	fnBrotliR = "github.com/andybalholm/brotli.(*Reader).Read"
	fnBzip2R  = "compress/bzip2.(*reader).Read"
	fnLzwW    = "compress/lzw.(*Writer).Write"
	fnLzwC    = "compress/lzw.(*Writer).Close"
	fnLzwR    = "compress/lzw.(*Reader).Read"
)

// textBz2 is 24,000 bytes of text compressed by the bzip2 program (Go's
// standard library decodes bzip2 only).
//
//go:embed text.bz2
var textBz2 []byte

// libraryRound drives the libraries beyond the first seven: brotli's
// writer (whose output gozt counts at its writes, as flate's) and reader,
// lzw's writer (its output goes through a bufio.Writer: not judged) and
// reader, and bzip2's reader, whole and cut in half (it fails).
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
}
