// Command workload is gozt's ground-truth target: it calls every compression
// API in gozt's catalog from several goroutines, a known number of times, with
// known sizes and known failures, and prints what it did as JSON.
//
// Only one-shot APIs are counted in the ground truth: their input and output
// sizes are visible to the caller exactly. Stream APIs are exercised too, so
// the binary holds every catalog function, but their inner calls depend on
// library internals and are not part of the truth.
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

	gsnappy "github.com/golang/snappy"
	kflate "github.com/klauspost/compress/flate"
	kgzip "github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/s2"
	ksnappy "github.com/klauspost/compress/snappy"
	kzlib "github.com/klauspost/compress/zlib"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4"
)

// counts is the ground truth for one function in one goroutine.
type counts struct {
	Calls          uint64 `json:"calls"`
	Errors         uint64 `json:"errors"`
	Incompressible uint64 `json:"incompressible"`
	BytesIn        uint64 `json:"bytes_in"`
	BytesOut       uint64 `json:"bytes_out"`
}

type goroutineTruth struct {
	Goid      uint64             `json:"goid"`
	Functions map[string]*counts `json:"functions"`
}

type truth struct {
	Pid        int               `json:"pid"`
	MinSize    int               `json:"min_size"`
	Goroutines []*goroutineTruth `json:"goroutines"`
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

func (r *recorder) add(fn string, in, out int, isErr bool, compress bool) {
	c := r.g.Functions[fn]
	if c == nil {
		c = &counts{}
		r.g.Functions[fn] = c
	}
	c.Calls++
	c.BytesIn += uint64(in)
	if isErr {
		c.Errors++
		return
	}
	c.BytesOut += uint64(out)
	if compress && in > *minSize && out >= in {
		c.Incompressible++
	}
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
	corrupt := append([]byte{0x28, 0xb5, 0x2f, 0xfd}, random(64, seed)...)
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
		n, err := lz4.CompressBlock(src, buf, nil)
		// lz4 reports an incompressible block as n == 0.
		out := n
		if n == 0 {
			out = len(src)
		}
		r.add(fnLz4Compress, len(src), out, err != nil, true)
		if n > 0 {
			plain := make([]byte, len(src))
			m, err := lz4.UncompressBlock(buf[:n], plain)
			r.add(fnLz4Decomp, n, m, err != nil, false)
		}
	}
	bad := random(48, seed)
	bad[0] = 0xff // a varint length far beyond the data
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

type flusher interface {
	io.Writer
	Close() error
}

// streams drives every stream API once; these calls are not in the truth.
//
//go:noinline
func streams(src []byte) {
	var buf bytes.Buffer
	roundTrip := func(w flusher, open func(io.Reader) (io.Reader, error)) {
		if _, err := w.Write(src); err != nil {
			panic(err)
		}
		if err := w.Close(); err != nil {
			panic(err)
		}
		r, err := open(bytes.NewReader(buf.Bytes()))
		if err != nil {
			panic(err)
		}
		got, err := io.ReadAll(r)
		if err != nil || !bytes.Equal(got, src) {
			panic("stream round trip")
		}
		buf.Reset()
	}
	fw, _ := stdflate.NewWriter(&buf, stdflate.DefaultCompression)
	roundTrip(fw, func(r io.Reader) (io.Reader, error) { return stdflate.NewReader(r), nil })
	roundTrip(stdgzip.NewWriter(&buf), func(r io.Reader) (io.Reader, error) { return stdgzip.NewReader(r) })
	roundTrip(stdzlib.NewWriter(&buf), func(r io.Reader) (io.Reader, error) { return stdzlib.NewReader(r) })
	kfw, _ := kflate.NewWriter(&buf, kflate.DefaultCompression)
	roundTrip(kfw, func(r io.Reader) (io.Reader, error) { return kflate.NewReader(r), nil })
	roundTrip(kgzip.NewWriter(&buf), func(r io.Reader) (io.Reader, error) { return kgzip.NewReader(r) })
	roundTrip(kzlib.NewWriter(&buf), func(r io.Reader) (io.Reader, error) { return kzlib.NewReader(r) })
	roundTrip(s2.NewWriter(&buf), func(r io.Reader) (io.Reader, error) { return s2.NewReader(r), nil })
	roundTrip(gsnappy.NewBufferedWriter(&buf), func(r io.Reader) (io.Reader, error) { return gsnappy.NewReader(r), nil })
	roundTrip(lz4.NewWriter(&buf), func(r io.Reader) (io.Reader, error) { return lz4.NewReader(r), nil })
	zw, _ := zstd.NewWriter(&buf)
	roundTrip(zw, func(r io.Reader) (io.Reader, error) {
		d, err := zstd.NewReader(r)
		return d, err
	})

	// ReadFrom and WriteTo, the zstd stream helpers.
	zw, _ = zstd.NewWriter(&buf)
	if _, err := zw.ReadFrom(bytes.NewReader(src)); err != nil {
		panic(err)
	}
	zw.Close()
	d, _ := zstd.NewReader(bytes.NewReader(buf.Bytes()))
	var out bytes.Buffer
	if _, err := d.WriteTo(&out); err != nil || !bytes.Equal(out.Bytes(), src) {
		panic("zstd WriteTo")
	}
	d.Close()
	buf.Reset()

	// klauspost's snappy block wrappers.
	enc := ksnappy.Encode(nil, src)
	if dec, err := ksnappy.Decode(nil, enc); err != nil || !bytes.Equal(dec, src) {
		panic("klauspost snappy")
	}
	_ = s2.EncodeBetter(nil, src)
	_ = s2.EncodeBest(nil, src)
	_, _ = lz4.CompressBlockHC(src, make([]byte, lz4.CompressBlockBound(len(src))), 0)
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
	doStreams := flag.Bool("streams", true, "also drive the stream APIs (not in the truth)")
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
			}
			mu.Lock()
			t.Goroutines = append(t.Goroutines, r.g)
			mu.Unlock()
		}(i)
	}
	wg.Wait()
	if *doStreams {
		streams(compressible(8192, 42))
	}
	sort.Slice(t.Goroutines, func(a, b int) bool { return t.Goroutines[a].Goid < t.Goroutines[b].Goid })
	out := json.NewEncoder(os.Stdout)
	out.SetIndent("", "  ")
	if err := out.Encode(&t); err != nil {
		panic(err)
	}
}
