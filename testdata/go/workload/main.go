// Command workload is gozt's ground-truth target: it calls every compression
// API in gozt's catalog from several goroutines, a known number of times, with
// known sizes and known failures, and prints what it did as JSON.
//
// One-shot APIs show the caller their input and output sizes exactly. Stream
// APIs run on a goroutine of their own: the caller sees each Write's input and
// each Read's output, and the library calls a stream makes inside (a gzip
// Write is a flate Write; a snappy reader decodes each chunk with Decode) are
// derived from the stream's bytes or from how the wrapper delegates.
package main

import (
	"bytes"
	stdflate "compress/flate"
	stdgzip "compress/gzip"
	stdzlib "compress/zlib"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand"
	"os"
	"os/signal"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	gsnappy "github.com/golang/snappy"
	kflate "github.com/klauspost/compress/flate"
	kgzip "github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/s2"
	ksnappy "github.com/klauspost/compress/snappy"
	kzlib "github.com/klauspost/compress/zlib"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4"
)

// counts is the ground truth for one row (a function, or a function's
// calls made inside another traced call, `outer`) in one goroutine: its
// calls, and the payloads that ended there, judged by the rules gozt's
// README states.
type counts struct {
	Calls      uint64 `json:"calls"`
	CallErrors uint64 `json:"call_errors"`
	BytesIn    uint64 `json:"bytes_in"`
	BytesOut   uint64 `json:"bytes_out"`
	Payloads   uint64 `json:"payloads"`
	// Judged payloads with an original size > min-size, or an error.
	Eligible       uint64 `json:"eligible"`
	Errors         uint64 `json:"errors"`
	Incompressible uint64 `json:"incompressible"`
	NotJudged      uint64 `json:"not_judged"`
	Failures       uint64 `json:"failures"`
	// The payloads' original sizes, and the compressed sizes of those
	// whose compressed size gozt can know.
	PayloadOriginal   uint64 `json:"payload_original_bytes"`
	PayloadCompressed uint64 `json:"payload_compressed_bytes"`
	Function          string `json:"function"`
	Outer             string `json:"outer,omitempty"`
}

type goroutineTruth struct {
	Goid      uint64             `json:"goid"`
	Functions map[string]*counts `json:"functions"`
}

type truth struct {
	Pid        int               `json:"pid"`
	MinSize    int               `json:"min_size"`
	Goroutines []*goroutineTruth `json:"goroutines"`
	// With -harm: a digest of what the harm scenario computed, and how many
	// compression calls it made that never return.
	HarmDigest uint32 `json:"harm_digest,omitempty"`
	Abandoned  int    `json:"abandoned,omitempty"`
	// The HTTP scenario's payloads by route (every other payload is made
	// off any request).
	Routes []*routeTruth `json:"routes,omitempty"`
	// The downstream scenario's caller, and with -redis the route whose
	// payloads are stored in Redis: their downstream writes.
	Downstream []*downstreamTruth `json:"downstream,omitempty"`
	// The lifecycle scenario's callers: their encoders and decoders.
	Lifecycle []*lifecycleTruth `json:"lifecycle,omitempty"`
}

const (
	fnEncodeAll   = "github.com/klauspost/compress/zstd.(*Encoder).EncodeAll"
	fnDecodeAll   = "github.com/klauspost/compress/zstd.(*Decoder).DecodeAll"
	fnSnappyEnc   = "github.com/golang/snappy.Encode"
	fnSnappyDec   = "github.com/golang/snappy.Decode"
	fnS2Enc       = "github.com/klauspost/compress/s2.Encode"
	fnS2Dec       = "github.com/klauspost/compress/s2.Decode"
	fnLz4Compress = "github.com/pierrec/lz4.CompressBlock"
	fnLz4Decomp   = "github.com/pierrec/lz4.UncompressBlock"
)

// Rounds that only some builds make (cgo_zstd.go), after blockRound.
var extraRounds []func(r *recorder, size int, seed int64)

var minSize = flag.Int("min-size", 1024, "inputs larger than this are eligible for the failure rate")

// goid parses the current goroutine's id from its stack header.
func goid() uint64 {
	var buf [64]byte
	n := runtime.Stack(buf[:], false)
	f := strings.Fields(string(buf[:n]))
	id, err := strconv.ParseUint(f[1], 10, 64)
	if err != nil {
		panic(err)
	}
	return id
}

type recorder struct {
	g *goroutineTruth
}

// row is the counts of fn's calls made inside outer ("" for none).
func (r *recorder) row(fn, outer string) *counts {
	key := fn
	if outer != "" {
		key = fn + " <- " + outer
	}
	c := r.g.Functions[key]
	if c == nil {
		c = &counts{Function: fn, Outer: outer}
		r.g.Functions[key] = c
	}
	return c
}

// call records one call: its bytes in, and out unless it errored; a Read
// that errored delivered its n bytes all the same (io.Reader's contract).
func (r *recorder) call(fn, outer string, in, out int, isErr bool) {
	c := r.row(fn, outer)
	c.Calls++
	c.BytesIn += uint64(in)
	if isErr {
		c.CallErrors++
		if !strings.HasSuffix(fn, ").Read") {
			return
		}
	}
	c.BytesOut += uint64(out)
}

// payload records one payload ended by a call of fn: plain is its original
// (uncompressed) size, packed its compressed size (-1: gozt cannot see it,
// a decoding stream's input; 0 from a compressor: lz4 declined, nothing
// produced); judged false when it cannot be known (it is then never
// eligible). A compress payload that errored has no compressed size.
func (r *recorder) payload(fn string, plain, packed int, isErr, compress, judged bool) {
	c := r.row(fn, "")
	c.Payloads++
	c.PayloadOriginal += uint64(plain)
	if judged && packed >= 0 && !(compress && isErr) {
		c.PayloadCompressed += uint64(packed)
	}
	if isErr {
		c.Errors++
	}
	if !judged {
		c.NotJudged++
		return
	}
	small := plain <= *minSize
	eligible := !small || isErr
	declined := compress && packed == 0 && plain > 0
	incompressible := compress && !isErr && !small && (declined || packed >= plain)
	if eligible {
		c.Eligible++
	}
	if incompressible {
		c.Incompressible++
	}
	if eligible && (isErr || incompressible) {
		c.Failures++
	}
}

// add records a one-shot call: one call, one payload.
func (r *recorder) add(fn string, in, out int, isErr bool, compress bool) {
	r.call(fn, "", in, out, isErr)
	plain := out
	if compress {
		plain = in
	}
	packed := out
	if !compress {
		packed = in
	}
	if isErr && !compress {
		plain = 0
	}
	r.payload(fn, plain, packed, isErr, compress, true)
}

func compressible(n int, seed int64) []byte {
	words := []string{"gozt ", "zstd ", "gzip ", "flate ", "goroutine ", "latency "}
	rng := rand.New(rand.NewSource(seed))
	var b bytes.Buffer
	for b.Len() < n {
		b.WriteString(words[rng.Intn(len(words))])
	}
	return b.Bytes()[:n]
}

func random(n int, seed int64) []byte {
	b := make([]byte, n)
	rand.New(rand.NewSource(seed)).Read(b)
	return b
}

//go:noinline
func zstdRound(r *recorder, enc *zstd.Encoder, dec *zstd.Decoder, size int, seed int64) {
	for _, src := range [][]byte{compressible(size, seed), random(size, seed), compressible(100, seed)} {
		dst := make([]byte, 0, 16)
		out := enc.EncodeAll(src, dst)
		r.add(fnEncodeAll, len(src), len(out)-len(dst), false, true)

		plain, err := dec.DecodeAll(out, nil)
		r.add(fnDecodeAll, len(out), len(plain), err != nil, false)
		if err != nil || !bytes.Equal(plain, src) {
			panic("zstd round trip")
		}
	}
	// A frame that declares 64 bytes (single segment; a random header could
	// declare gigabytes, which DecodeAll allocates before the first block)
	// whose first block is of the reserved type: corrupt, whatever follows.
	corrupt := append([]byte{0x28, 0xb5, 0x2f, 0xfd}, random(64, seed)...)
	copy(corrupt[4:], []byte{0x20, 0x40, 0x07, 0x00, 0x00})
	_, err := dec.DecodeAll(corrupt, nil)
	if err == nil {
		panic("corrupt zstd frame decoded")
	}
	r.add(fnDecodeAll, len(corrupt), 0, true, false)
}

//go:noinline
func blockRound(r *recorder, size int, seed int64) {
	for _, src := range [][]byte{compressible(size, seed), random(size, seed)} {
		enc := gsnappy.Encode(nil, src)
		r.add(fnSnappyEnc, len(src), len(enc), false, true)
		dec, err := gsnappy.Decode(nil, enc)
		r.add(fnSnappyDec, len(enc), len(dec), err != nil, false)

		enc = s2.Encode(nil, src)
		r.add(fnS2Enc, len(src), len(enc), false, true)
		dec, err = s2.Decode(nil, enc)
		r.add(fnS2Dec, len(enc), len(dec), err != nil, false)

		buf := make([]byte, lz4.CompressBlockBound(len(src)))
		// A fresh hash table keeps the output deterministic (a pooled one is not).
		n, err := lz4.CompressBlock(src, buf, make([]int, 1<<16))
		// lz4 reports an incompressible block as n == 0: nothing produced
		// (the caller stores the block raw), judged incompressible.
		r.add(fnLz4Compress, len(src), n, err != nil, true)
		if n > 0 {
			plain := make([]byte, len(src))
			m, err := lz4.UncompressBlock(buf[:n], plain)
			r.add(fnLz4Decomp, n, m, err != nil, false)
		}
	}
	// A block that declares 1 MiB (a varint length far beyond its data; the
	// decoders allocate what a block declares before reading it, and a
	// random length cost up to 4 GiB a call) and starts with a copy from
	// before its start (offset 5 at 0 bytes out): corrupt for snappy and
	// s2, whatever the random bytes after it.
	bad := random(48, seed)
	copy(bad, []byte{0x80, 0x80, 0x40, 0x01, 0x05})
	if _, err := gsnappy.Decode(nil, bad); err == nil {
		panic("corrupt snappy block decoded")
	}
	r.add(fnSnappyDec, len(bad), 0, true, false)
	if _, err := s2.Decode(nil, bad); err == nil {
		panic("corrupt s2 block decoded")
	}
	r.add(fnS2Dec, len(bad), 0, true, false)
	badLz4 := []byte{0xf0, 0xff, 0xff, 0xff, 0x01}
	if _, err := lz4.UncompressBlock(badLz4, make([]byte, 64)); err == nil {
		panic("corrupt lz4 block decoded")
	}
	r.add(fnLz4Decomp, len(badLz4), 0, true, false)
}

const (
	fnStdFlateW    = "compress/flate.(*Writer).Write"
	fnStdFlateC    = "compress/flate.(*Writer).Close"
	fnStdFlateR    = "compress/flate.(*decompressor).Read"
	fnStdGzipW     = "compress/gzip.(*Writer).Write"
	fnStdGzipC     = "compress/gzip.(*Writer).Close"
	fnStdGzipF     = "compress/gzip.(*Writer).Flush"
	fnStdGzipR     = "compress/gzip.(*Reader).Read"
	fnStdZlibW     = "compress/zlib.(*Writer).Write"
	fnStdZlibC     = "compress/zlib.(*Writer).Close"
	fnStdZlibR     = "compress/zlib.(*reader).Read"
	kc             = "github.com/klauspost/compress/"
	fnKFlateW      = kc + "flate.(*Writer).Write"
	fnKFlateC      = kc + "flate.(*Writer).Close"
	fnKFlateR      = kc + "flate.(*decompressor).Read"
	fnKGzipW       = kc + "gzip.(*Writer).Write"
	fnKGzipC       = kc + "gzip.(*Writer).Close"
	fnKGzipR       = kc + "gzip.(*Reader).Read"
	fnKZlibW       = kc + "zlib.(*Writer).Write"
	fnKZlibC       = kc + "zlib.(*Writer).Close"
	fnKZlibR       = kc + "zlib.(*reader).Read"
	fnS2W          = kc + "s2.(*Writer).Write"
	fnS2C          = kc + "s2.(*Writer).Close"
	fnS2R          = kc + "s2.(*Reader).Read"
	fnS2Better     = kc + "s2.EncodeBetter"
	fnS2Best       = kc + "s2.EncodeBest"
	fnSnappyW      = "github.com/golang/snappy.(*Writer).Write"
	fnSnappyC      = "github.com/golang/snappy.(*Writer).Close"
	fnSnappyR      = "github.com/golang/snappy.(*Reader).Read"
	fnLz4W         = "github.com/pierrec/lz4.(*Writer).Write"
	fnLz4C         = "github.com/pierrec/lz4.(*Writer).Close"
	fnLz4R         = "github.com/pierrec/lz4.(*Reader).Read"
	fnLz4HC        = "github.com/pierrec/lz4.CompressBlockHC"
	fnZstdW        = kc + "zstd.(*Encoder).Write"
	fnZstdC        = kc + "zstd.(*Encoder).Close"
	fnZstdReadFrom = kc + "zstd.(*Encoder).ReadFrom"
	fnZstdR        = kc + "zstd.(*Decoder).Read"
	fnZstdWriteTo  = kc + "zstd.(*Decoder).WriteTo"
)

// How gozt knows a family's compressed output.
const (
	sinksOut   = iota // the writes to the stream's io.Writer, per call
	countsOut         // the encoder's own counts, at Close (zstd)
	unknownOut        // not known: the payload is not judged
)

// stream names one stream family: its writer's and reader's catalog
// functions, the function each Read calls inside on the caller's goroutine
// (a gzip Read is one flate Read of the same bytes), and how its output is
// known. A gzip or zlib Write and Close make no flate call of their own:
// the compiler inlines flate.(*Writer).Write and Close into them.
type stream struct {
	write, close, read, inner string
	out                       int
}

// callOut is what gozt counts as the output of one writer call that wrote
// `wrote` bytes to the stream's io.Writer.
func (s stream) callOut(wrote int) int {
	if s.out == sinksOut {
		return wrote
	}
	return 0
}

// readAll reads rd to EOF (or, with wantErr, to its first error) through a
// small buffer, recording every Read and the payload: the caller sees each
// call's byte count, so the truth is exact. io.EOF is the normal end of a
// stream, not an error.
func readAll(r *recorder, s stream, rd io.Reader, wantErr bool) []byte {
	var got []byte
	buf := make([]byte, 1000)
	for {
		n, err := rd.Read(buf)
		isErr := err != nil && err != io.EOF
		r.call(s.read, "", 0, n, isErr)
		if s.inner != "" {
			r.call(s.inner, s.read, 0, n, isErr)
		}
		// Bytes returned with an error were delivered all the same.
		got = append(got, buf[:n]...)
		if err == io.EOF || isErr {
			if isErr != wantErr {
				panic(fmt.Sprint("stream read: ", err))
			}
			r.payload(s.read, len(got), -1, isErr, false, true)
			return got
		}
	}
}

type closer interface {
	io.Writer
	Close() error
}

// writeAll writes src in two pieces and closes, recording each call and
// the payload; closeInner records the calls Close makes inside.
func writeAll(r *recorder, s stream, buf *bytes.Buffer, src []byte, w closer, closeInner func()) {
	buf.Reset()
	for _, p := range [][]byte{src[:3000], src[3000:]} {
		before := buf.Len()
		if n, err := w.Write(p); err != nil || n != len(p) {
			panic(fmt.Sprint("stream write: ", n, err))
		}
		r.call(s.write, "", len(p), s.callOut(buf.Len()-before), false)
	}
	before := buf.Len()
	if err := w.Close(); err != nil {
		panic(err)
	}
	r.call(s.close, "", 0, s.callOut(buf.Len()-before), false)
	if closeInner != nil {
		closeInner()
	}
	r.payload(s.close, len(src), buf.Len(), false, true, s.out != unknownOut)
}

// badChecksum writes src as a gzip stream whose trailer's CRC is then
// spoiled, and reads it back: the last gzip Read returns the stream's last
// bytes together with gzip.ErrChecksum (data and an error at once), the
// flate Read inside it the same bytes with io.EOF.
func badChecksum(r *recorder, buf *bytes.Buffer, src []byte) {
	stdGzip := stream{fnStdGzipW, fnStdGzipC, fnStdGzipR, fnStdFlateR, sinksOut}
	writeAll(r, stdGzip, buf, src, stdgzip.NewWriter(buf), nil)
	bad := append([]byte(nil), buf.Bytes()...)
	bad[len(bad)-8] ^= 0xff
	zr, err := stdgzip.NewReader(bytes.NewReader(bad))
	if err != nil {
		panic(err)
	}
	p := make([]byte, 1000)
	got := 0
	for {
		n, err := zr.Read(p)
		got += n
		r.call(fnStdGzipR, "", 0, n, err != nil)
		r.call(fnStdFlateR, fnStdGzipR, 0, n, false)
		if err != nil {
			if err != stdgzip.ErrChecksum || n == 0 || got != len(src) {
				panic(fmt.Sprint("gzip bad checksum: ", n, got, err))
			}
			r.payload(fnStdGzipR, got, -1, true, false, true)
			return
		}
	}
}

// roundTrip writes src as one stream payload and reads it back as another.
func roundTrip(r *recorder, s stream, buf *bytes.Buffer, src []byte, w closer, closeInner func(), open func(io.Reader) (io.Reader, error)) {
	writeAll(r, s, buf, src, w, closeInner)
	rd, err := open(bytes.NewReader(buf.Bytes()))
	if err != nil {
		panic(err)
	}
	if !bytes.Equal(readAll(r, s, rd, false), src) {
		panic("stream round trip " + s.write)
	}
}

// framedChunks walks a snappy/s2 framed stream: for each compressed chunk
// the reader makes one block Decode of the chunk's data (after its 4-byte
// CRC), whose decoded length the block header states.
func framedChunks(frame []byte, decodedLen func([]byte) (int, error), each func(in, out int)) {
	for len(frame) >= 4 {
		typ, n := frame[0], int(frame[1])|int(frame[2])<<8|int(frame[3])<<16
		data := frame[4 : 4+n]
		frame = frame[4+n:]
		switch typ {
		case 0x00:
			out, err := decodedLen(data[4:])
			if err != nil {
				panic(err)
			}
			each(len(data)-4, out)
		case 0x01:
			panic("uncompressed chunk: the writer's block encode is not observable")
		}
	}
}

// lz4Blocks walks an lz4 frame (no content size, no dictionary) and returns
// the sizes of its compressed blocks.
func lz4Blocks(frame []byte) []int {
	flg := frame[4]
	if flg&0x09 != 0 {
		panic("lz4 frame with content size or dictionary id")
	}
	blockChecksum := flg&0x10 != 0
	frame = frame[7:]
	var sizes []int
	for {
		size := int(uint32(frame[0]) | uint32(frame[1])<<8 | uint32(frame[2])<<16 | uint32(frame[3])<<24)
		frame = frame[4:]
		if size == 0 {
			return sizes
		}
		if size&(1<<31) != 0 {
			panic("uncompressed lz4 block: CompressBlock's result is not observable")
		}
		sizes = append(sizes, size)
		frame = frame[size:]
		if blockChecksum {
			frame = frame[4:]
		}
	}
}

// streamRound drives every stream API with 8 KiB of compressible data and
// records each call the catalog holds on this goroutine: the caller's own
// Write/Close/Read calls (exact), and the library calls they make inside,
// derived from the documented framing (snappy, s2, lz4) or from how each
// wrapper delegates (gzip and zlib hand each Read to one flate Read with the
// same result; a single-block zstd stream is encoded with one EncodeAll of
// everything written, at Close). Then truncated gzip and zstd streams,
// whose readers fail.
//
//go:noinline
func streamRound(r *recorder, src []byte) {
	if len(src) < 8192 || len(src) > 64<<10 {
		panic("streamRound wants 8 KiB to 64 KiB: one snappy chunk, one lz4 block")
	}
	var buf bytes.Buffer
	stdFlate := stream{write: fnStdFlateW, close: fnStdFlateC, read: fnStdFlateR, out: sinksOut}
	fw, _ := stdflate.NewWriter(&buf, stdflate.DefaultCompression)
	roundTrip(r, stdFlate, &buf, src, fw, nil, func(rd io.Reader) (io.Reader, error) { return stdflate.NewReader(rd), nil })
	stdGzip := stream{fnStdGzipW, fnStdGzipC, fnStdGzipR, fnStdFlateR, sinksOut}
	roundTrip(r, stdGzip, &buf, src, stdgzip.NewWriter(&buf), nil,
		func(rd io.Reader) (io.Reader, error) { return stdgzip.NewReader(rd) })
	roundTrip(r, stream{fnStdZlibW, fnStdZlibC, fnStdZlibR, fnStdFlateR, sinksOut}, &buf, src,
		stdzlib.NewWriter(&buf), nil, func(rd io.Reader) (io.Reader, error) { return stdzlib.NewReader(rd) })

	kFlate := stream{write: fnKFlateW, close: fnKFlateC, read: fnKFlateR, out: sinksOut}
	kfw, _ := kflate.NewWriter(&buf, kflate.DefaultCompression)
	roundTrip(r, kFlate, &buf, src, kfw, nil, func(rd io.Reader) (io.Reader, error) { return kflate.NewReader(rd), nil })
	roundTrip(r, stream{fnKGzipW, fnKGzipC, fnKGzipR, fnKFlateR, sinksOut}, &buf, src,
		kgzip.NewWriter(&buf), nil, func(rd io.Reader) (io.Reader, error) { return kgzip.NewReader(rd) })
	roundTrip(r, stream{fnKZlibW, fnKZlibC, fnKZlibR, fnKFlateR, sinksOut}, &buf, src,
		kzlib.NewWriter(&buf), nil, func(rd io.Reader) (io.Reader, error) { return kzlib.NewReader(rd) })

	roundTrip(r, stream{write: fnS2W, close: fnS2C, read: fnS2R, out: unknownOut}, &buf, src,
		s2.NewWriter(&buf), nil, func(rd io.Reader) (io.Reader, error) {
			framedChunks(buf.Bytes(), s2.DecodedLen, func(in, out int) { r.call(fnS2Dec, fnS2R, in, out, false) })
			return s2.NewReader(rd), nil
		})
	roundTrip(r, stream{write: fnSnappyW, close: fnSnappyC, read: fnSnappyR, out: unknownOut}, &buf, src,
		gsnappy.NewBufferedWriter(&buf), func() {
			// The writer's Close encoded the chunk.
			framedChunks(buf.Bytes(), gsnappy.DecodedLen, func(in, out int) { r.call(fnSnappyEnc, fnSnappyC, out, in, false) })
		}, func(rd io.Reader) (io.Reader, error) {
			framedChunks(buf.Bytes(), gsnappy.DecodedLen, func(in, out int) { r.call(fnSnappyDec, fnSnappyR, in, out, false) })
			return gsnappy.NewReader(rd), nil
		})
	var lz4Block int
	roundTrip(r, stream{write: fnLz4W, close: fnLz4C, read: fnLz4R, out: unknownOut}, &buf, src,
		lz4.NewWriter(&buf), func() {
			blocks := lz4Blocks(buf.Bytes())
			if len(blocks) != 1 {
				panic("one lz4 block expected")
			}
			lz4Block = blocks[0]
			r.call(fnLz4Compress, fnLz4C, len(src), lz4Block, false)
		}, func(rd io.Reader) (io.Reader, error) {
			r.call(fnLz4Decomp, fnLz4R, lz4Block, len(src), false)
			return lz4.NewReader(rd), nil
		})
	libraryRound(r, &buf, src)
	zw, _ := zstd.NewWriter(&buf)
	zstdStream := stream{write: fnZstdW, close: fnZstdC, read: fnZstdR, out: countsOut}
	roundTrip(r, zstdStream, &buf, src, zw,
		func() { r.call(fnEncodeAll, fnZstdC, len(src), buf.Len(), false) },
		func(rd io.Reader) (io.Reader, error) { return zstd.NewReader(rd) })

	// ReadFrom and WriteTo, the zstd stream helpers.
	buf.Reset()
	zw, _ = zstd.NewWriter(&buf)
	n, err := zw.ReadFrom(bytes.NewReader(src))
	if err != nil || n != int64(len(src)) {
		panic(fmt.Sprint("zstd ReadFrom: ", n, err))
	}
	r.call(fnZstdReadFrom, "", int(n), 0, false)
	if err := zw.Close(); err != nil {
		panic(err)
	}
	r.call(fnZstdC, "", 0, 0, false)
	r.call(fnEncodeAll, fnZstdC, len(src), buf.Len(), false)
	r.payload(fnZstdC, len(src), buf.Len(), false, true, true)
	d, _ := zstd.NewReader(bytes.NewReader(buf.Bytes()))
	var out bytes.Buffer
	n, err = d.WriteTo(&out)
	if err != nil || !bytes.Equal(out.Bytes(), src) {
		panic("zstd WriteTo")
	}
	r.add(fnZstdWriteTo, 0, int(n), false, false)
	d.Close()

	// Truncated streams: their readers fail, one errored payload each.
	writeAll(r, stdGzip, &buf, src, stdgzip.NewWriter(&buf), nil)
	cut := append([]byte(nil), buf.Bytes()[:buf.Len()/2]...)
	zr, err := stdgzip.NewReader(bytes.NewReader(cut))
	if err != nil {
		panic(err)
	}
	readAll(r, stdGzip, zr, true)
	zw, _ = zstd.NewWriter(&buf)
	writeAll(r, zstdStream, &buf, src, zw, func() { r.call(fnEncodeAll, fnZstdC, len(src), buf.Len(), false) })
	cut = append([]byte(nil), buf.Bytes()[:buf.Len()/2]...)
	zd, _ := zstd.NewReader(bytes.NewReader(cut), zstd.WithDecoderConcurrency(1))
	readAll(r, zstdStream, zd, true)
	zd.Close()
	badChecksum(r, &buf, src)

	// Block encoders the one-shot rounds leave out; klauspost's snappy
	// Decode is s2's.
	enc := ksnappy.Encode(nil, src)
	dec, err := ksnappy.Decode(nil, enc)
	if err != nil || !bytes.Equal(dec, src) {
		panic("klauspost snappy")
	}
	r.add(fnS2Dec, len(enc), len(dec), false, false)
	better := s2.EncodeBetter(nil, src)
	r.add(fnS2Better, len(src), len(better), false, true)
	best := s2.EncodeBest(nil, src)
	r.add(fnS2Best, len(src), len(best), false, true)
	hc, err := lz4.CompressBlockHC(src, make([]byte, lz4.CompressBlockBound(len(src))), 0)
	if err != nil {
		panic(err)
	}
	r.add(fnLz4HC, len(src), hc, false, true)
}

func waitForStart() {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGUSR1)
	fmt.Fprintf(os.Stderr, "workload %d waiting for SIGUSR1\n", os.Getpid())
	<-sig
	signal.Stop(sig)
}

func main() {
	goroutines := flag.Int("goroutines", 4, "worker goroutines")
	rounds := flag.Int("rounds", 3, "rounds per goroutine")
	wait := flag.Bool("wait", false, "wait for SIGUSR1 before working (for attach mode)")
	doStreams := flag.Bool("streams", true, "also drive the stream APIs, on a goroutine of their own")
	doHTTP := flag.Bool("http", true, "also serve compressed HTTP responses to a client of its own")
	harmGoroutines := flag.Int("harm", 0, "also run the harm scenario on this many goroutines")
	idleGoroutines := flag.Int("idle", 0, "also run the idle-and-wake scenario on this many goroutines")
	idleFor := flag.Duration("idle-for", 1500*time.Millisecond, "how long the idle goroutines wait")
	linger := flag.Bool("linger", false, "after printing the truth, stay alive until SIGTERM")
	doDownstream := flag.Bool("downstream", true, "also write payloads to a socket, a file and a pipe")
	doLifecycle := flag.Bool("lifecycle", true, "also build and reset gzip and zstd writers and readers, per payload and pooled")
	flag.Parse()
	if *wait {
		waitForStart()
	}

	enc, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
	if err != nil {
		panic(err)
	}
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1))
	if err != nil {
		panic(err)
	}

	t := truth{Pid: os.Getpid(), MinSize: *minSize}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := 0; i < *goroutines; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			r := &recorder{g: &goroutineTruth{Goid: goid(), Functions: map[string]*counts{}}}
			for round := 0; round < *rounds; round++ {
				seed := int64(i*1000 + round)
				size := 2048 + 512*i + 64*round
				zstdRound(r, enc, dec, size, seed)
				blockRound(r, size, seed)
				for _, round := range extraRounds {
					round(r, size, seed)
				}
			}
			mu.Lock()
			t.Goroutines = append(t.Goroutines, r.g)
			mu.Unlock()
		}(i)
	}
	if *doStreams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := &recorder{g: &goroutineTruth{Goid: goid(), Functions: map[string]*counts{}}}
			streamRound(r, compressible(8192, 42))
			mu.Lock()
			t.Goroutines = append(t.Goroutines, r.g)
			mu.Unlock()
		}()
	}
	if *doHTTP {
		wg.Add(1)
		go func() {
			defer wg.Done()
			httpRound(&t, &mu)
		}()
	}
	if *doDownstream {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := &recorder{g: &goroutineTruth{Goid: goid(), Functions: map[string]*counts{}}}
			d := downstreamRound(r, enc)
			mu.Lock()
			t.Goroutines = append(t.Goroutines, r.g)
			t.Downstream = append(t.Downstream, d)
			mu.Unlock()
		}()
	}
	if *doLifecycle {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := &recorder{g: &goroutineTruth{Goid: goid(), Functions: map[string]*counts{}}}
			l := lifecycleRound(r)
			mu.Lock()
			t.Goroutines = append(t.Goroutines, r.g)
			t.Lifecycle = l
			mu.Unlock()
		}()
	}
	if *harmGoroutines > 0 {
		t.HarmDigest, t.Abandoned = harm(&t, &mu, *harmGoroutines)
	}
	if *idleGoroutines > 0 {
		idleAndWake(&t, &mu, *idleGoroutines, *idleFor)
	}
	wg.Wait()
	sort.Slice(t.Goroutines, func(a, b int) bool { return t.Goroutines[a].Goid < t.Goroutines[b].Goid })
	out := json.NewEncoder(os.Stdout)
	out.SetIndent("", "  ")
	if err := out.Encode(&t); err != nil {
		panic(err)
	}
	if *linger {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM)
		<-sig
	}
}
