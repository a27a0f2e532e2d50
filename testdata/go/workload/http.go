package main

// The HTTP scenario: a server compressing its responses through gzip and
// zstd streams (text and random bodies, sizes around min-size, a Flush
// mid-stream), and a client on another goroutine fetching each once. The
// handler counts what its stream writes to the response, so each payload's
// compressed size is known exactly.

import (
	stdgzip "compress/gzip"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"

	"github.com/klauspost/compress/zstd"
)

// sizeCounter counts the bytes written through it.
type sizeCounter struct {
	w io.Writer
	n int
}

func (c *sizeCounter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += n
	return n, err
}

// httpServer records each handler goroutine's calls.
type httpServer struct {
	mu        sync.Mutex
	recorders map[uint64]*recorder
}

func (s *httpServer) recorder() *recorder {
	id := goid()
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.recorders[id]
	if r == nil {
		r = &recorder{g: &goroutineTruth{Goid: id, Functions: map[string]*counts{}}}
		s.recorders[id] = r
	}
	return r
}

// ServeHTTP writes a body of ?size bytes, ?kind text or random, through
// ?codec gzip or zstd, flushing after the first 1000 bytes with ?flush=1.
func (s *httpServer) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	q := req.URL.Query()
	size, _ := strconv.Atoi(q.Get("size"))
	seed := int64(size)
	body := compressible(size, seed)
	if q.Get("kind") == "random" {
		body = random(size, seed)
	}
	r := s.recorder()
	out := &sizeCounter{w: w}
	pieces := [][]byte{body}
	if len(body) > 1000 {
		pieces = [][]byte{body[:1000], body[1000:]}
	}
	switch q.Get("codec") {
	case "gzip":
		gz := stdgzip.NewWriter(out)
		for i, p := range pieces {
			before := out.n
			if _, err := gz.Write(p); err != nil {
				panic(err)
			}
			r.call(fnStdGzipW, "", len(p), out.n-before, false)
			if i == 0 && q.Get("flush") == "1" {
				before = out.n
				if err := gz.Flush(); err != nil {
					panic(err)
				}
				r.call(fnStdGzipF, "", 0, out.n-before, false)
			}
		}
		before := out.n
		if err := gz.Close(); err != nil {
			panic(err)
		}
		r.call(fnStdGzipC, "", 0, out.n-before, false)
		r.payload(fnStdGzipC, len(body), out.n, false, true, true)
	case "zstd":
		zw, err := zstd.NewWriter(out)
		if err != nil {
			panic(err)
		}
		for _, p := range pieces {
			if _, err := zw.Write(p); err != nil {
				panic(err)
			}
			r.call(fnZstdW, "", len(p), 0, false)
		}
		if err := zw.Close(); err != nil {
			panic(err)
		}
		r.call(fnZstdC, "", 0, 0, false)
		// One block: Close encodes it with EncodeAll.
		r.call(fnEncodeAll, fnZstdC, len(body), out.n, false)
		r.payload(fnZstdC, len(body), out.n, false, true, true)
	default:
		http.Error(w, "codec?", http.StatusBadRequest)
	}
}

// httpRound serves every combination once and adds the handlers' truth.
func httpRound(t *truth, mu *sync.Mutex) {
	srv := &httpServer{recorders: map[uint64]*recorder{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	server := &http.Server{Handler: srv}
	go server.Serve(ln)
	client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	for _, codec := range []string{"gzip", "zstd"} {
		for _, kind := range []string{"text", "random"} {
			for _, size := range []int{600, 1024, 1025, 1500, 3000, 20000} {
				for _, flush := range []string{"0", "1"} {
					if codec == "zstd" && flush == "1" {
						continue
					}
					url := fmt.Sprintf("http://%s/?codec=%s&kind=%s&size=%d&flush=%s", ln.Addr(), codec, kind, size, flush)
					resp, err := client.Get(url)
					if err != nil {
						panic(err)
					}
					if _, err := io.Copy(io.Discard, resp.Body); err != nil {
						panic(err)
					}
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						panic(resp.Status)
					}
				}
			}
		}
	}
	server.Close()
	mu.Lock()
	defer mu.Unlock()
	srv.mu.Lock()
	defer srv.mu.Unlock()
	for _, r := range srv.recorders {
		t.Goroutines = append(t.Goroutines, r.g)
	}
}
