package main

// The harm scenario: what could hurt a traced Go program or confuse the
// tracer. Stacks grow and are copied while compression calls are in flight,
// gzip writers recurse into gzip writers, and writes panic (recovered) or end
// their goroutine with runtime.Goexit, so those calls never return. The
// program's output must be the same with and without gozt.

import (
	"bytes"
	stdgzip "compress/gzip"
	"errors"
	"flag"
	"hash/crc32"
	"runtime"
	"sync"

	gsnappy "github.com/golang/snappy"
)

var (
	harmDepths = flag.Int("harm-depths", 400, "harm: recursions before the panics, at depths 0, stride, 2*stride...")
	harmStride = flag.Int("harm-stride", 1, "harm: depth step between recursions")
	harmAfter  = flag.Int("harm-after", 20, "harm: recursions after the panics")
	harmPanics = flag.Int("harm-panics", 5, "harm: writes per goroutine that panic and never return")
	harmNested = flag.Bool("harm-nested", true, "harm: gzip writing into gzip")
)

// bomb is an io.Writer that never returns: it panics, or ends its goroutine.
type bomb struct{ goexit bool }

var errBoom = errors.New("boom")

func (b bomb) Write([]byte) (int, error) {
	if b.goexit {
		runtime.Goexit()
	}
	panic(errBoom)
}

// deep recurses n padded frames, then compresses: the stack grows (and is
// copied to a new place) on the way down, sometimes in the prologue of the
// compression call itself.
//
//go:noinline
func deep(r *recorder, n int, src []byte) uint32 {
	var pad [96]byte
	pad[n%len(pad)] = byte(n)
	if n == 0 {
		enc := gsnappy.Encode(nil, src)
		r.add(fnSnappyEnc, len(src), len(enc), false, true)
		dec, err := gsnappy.Decode(nil, enc)
		r.add(fnSnappyDec, len(enc), len(dec), err != nil, false)
		if err != nil || !bytes.Equal(dec, src) {
			panic("snappy round trip")
		}
		return crc32.ChecksumIEEE(enc)
	}
	return deep(r, n-1, src)*31 + uint32(pad[n%len(pad)])
}

// countingWriter passes every Write to an inner gzip writer, recording it
// as a call made inside the outer gzip call under way (`outer`), and counts
// the bytes it was given: the outer stream's output.
type countingWriter struct {
	r     *recorder
	inner *stdgzip.Writer
	sink  *bytes.Buffer
	outer string
	n     int
}

func (c *countingWriter) Write(p []byte) (int, error) {
	before := c.sink.Len()
	n, err := c.inner.Write(p)
	c.r.call(fnStdGzipW, c.outer, len(p), c.sink.Len()-before, err != nil)
	c.n += len(p)
	return n, err
}

// nestedGzip gzips through a gzip writer: the outer Write calls the inner
// Write on the same goroutine, one frame deeper, while it is in flight. The
// outer stream is one payload; the inner one's Writes are all inner calls,
// so its Close ends a payload gozt never saw begin: not judged.
//
//go:noinline
func nestedGzip(r *recorder, src []byte) uint32 {
	var sink bytes.Buffer
	inner := stdgzip.NewWriter(&sink)
	cw := &countingWriter{r: r, inner: inner, sink: &sink, outer: fnStdGzipW}
	outer := stdgzip.NewWriter(cw)
	if _, err := outer.Write(src); err != nil {
		panic(err)
	}
	r.call(fnStdGzipW, "", len(src), cw.n, false)
	wrote := cw.n
	cw.outer = fnStdGzipC
	if err := outer.Close(); err != nil {
		panic(err)
	}
	r.call(fnStdGzipC, "", 0, cw.n-wrote, false)
	r.payload(fnStdGzipC, len(src), cw.n, false, true, true)
	before := sink.Len()
	if err := inner.Close(); err != nil {
		panic(err)
	}
	r.call(fnStdGzipC, "", 0, sink.Len()-before, false)
	r.payload(fnStdGzipC, 0, sink.Len()-before, false, true, false)
	return crc32.ChecksumIEEE(sink.Bytes())
}

// abandonedWrite makes a gzip Write whose underlying writer panics; the
// panic is recovered here, so that Write never returns.
//
//go:noinline
func abandonedWrite(src []byte) (recovered bool) {
	defer func() { recovered = recover() == errBoom }()
	w := stdgzip.NewWriter(bomb{})
	_, _ = w.Write(src)
	return false
}

// harm runs the scenario on `goroutines` goroutines and returns a digest of
// everything computed and the number of calls that never return.
func harm(t *truth, mu *sync.Mutex, goroutines int) (digest uint32, abandoned int) {
	panics := *harmPanics
	results := make([]uint32, goroutines)
	var wg sync.WaitGroup
	for i := 0; i < goroutines; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			r := &recorder{g: &goroutineTruth{Goid: goid(), Functions: map[string]*counts{}}}
			src := compressible(3000+100*(i%20), int64(i))
			var sum uint32
			for depth := 0; depth < *harmDepths; depth++ {
				sum = sum*17 + deep(r, depth**harmStride, src)
			}
			if *harmNested {
				sum = sum*17 + nestedGzip(r, compressible(300<<10, int64(i)))
			}
			for p := 0; p < panics; p++ {
				if !abandonedWrite(src[:100+p]) {
					panic("the bomb did not go off")
				}
			}
			// The frames the panics left are reused by these calls.
			for depth := 0; depth < *harmAfter; depth++ {
				sum = sum*17 + deep(r, depth, src)
			}
			results[i] = sum
			mu.Lock()
			t.Goroutines = append(t.Goroutines, r.g)
			mu.Unlock()
		}(i)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		w := stdgzip.NewWriter(bomb{goexit: true})
		_, _ = w.Write([]byte("never returns"))
		panic("Goexit returned")
	}()
	wg.Wait()
	h := crc32.NewIEEE()
	for _, s := range results {
		h.Write([]byte{byte(s), byte(s >> 8), byte(s >> 16), byte(s >> 24)})
	}
	return h.Sum32(), goroutines*panics + 1
}
