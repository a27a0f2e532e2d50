// Command demo-service is the kind of Go service gozt is for: an HTTP API that
// stores and serves blobs, compressing them with a pool of zstd encoders,
// serving gzip-compressed responses, and decoding frames clients upload, some
// of them corrupt. Its built-in load generator (-load) drives it over
// loopback, so `gozt probes`/`gozt attach` have something real to look at.
// With -truth FILE it writes, at exit, its own count of the payloads it
// compressed and decompressed, judged by gozt's rules (README, "Rules"), to
// check gozt's failure rate against.
package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"math/rand"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/klauspost/compress/zstd"
)

// tally is the service's own count of its payloads, by function.
type tally struct {
	mu        sync.Mutex
	Payloads  uint64                     `json:"payloads"`
	Eligible  uint64                     `json:"eligible"`
	Failures  uint64                     `json:"failures"`
	Functions map[string]*functionTally `json:"functions"`
}

type functionTally struct {
	Payloads uint64 `json:"payloads"`
	Eligible uint64 `json:"eligible"`
	Failures uint64 `json:"failures"`
}

var (
	minSize = flag.Int("min-size", 1024, "the min-size the tally judges by (gozt's --min-size)")
	truth   = &tally{Functions: map[string]*functionTally{}}
)

// payload counts one payload of fn: plain is its original size, packed its
// compressed size.
func (t *tally) payload(fn string, plain, packed int, failed error, compress bool) {
	eligible := plain > *minSize || failed != nil
	fails := failed != nil || (compress && eligible && packed >= plain)
	t.mu.Lock()
	defer t.mu.Unlock()
	f := t.Functions[fn]
	if f == nil {
		f = &functionTally{}
		t.Functions[fn] = f
	}
	f.Payloads++
	if eligible {
		f.Eligible++
	}
	if eligible && fails {
		f.Failures++
	}
	t.Payloads++
	if eligible {
		t.Eligible++
	}
	if eligible && fails {
		t.Failures++
	}
}

const (
	fnEncodeAll = "github.com/klauspost/compress/zstd.(*Encoder).EncodeAll"
	fnDecodeAll = "github.com/klauspost/compress/zstd.(*Decoder).DecodeAll"
	fnGzipClose = "compress/gzip.(*Writer).Close"
)

// counter counts what a gzip stream writes to the response.
type counter struct {
	w io.Writer
	n int
}

func (c *counter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += n
	return n, err
}

type server struct {
	encoders sync.Pool // *zstd.Encoder
	decoder  *zstd.Decoder
	mu       sync.Mutex
	blobs    map[string][]byte // zstd frames
}

func newServer() *server {
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(2))
	if err != nil {
		log.Fatal(err)
	}
	s := &server{decoder: dec, blobs: map[string][]byte{}}
	s.encoders.New = func() interface{} {
		enc, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
		if err != nil {
			log.Fatal(err)
		}
		return enc
	}
	return s
}

// handleUpload stores the body zstd-compressed.
func (s *server) handleUpload(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	enc := s.encoders.Get().(*zstd.Encoder)
	frame := enc.EncodeAll(body, nil)
	s.encoders.Put(enc)
	truth.payload(fnEncodeAll, len(body), len(frame), nil, true)
	s.mu.Lock()
	s.blobs[r.URL.Query().Get("key")] = frame
	s.mu.Unlock()
	fmt.Fprintf(w, "%d -> %d\n", len(body), len(frame))
}

// handleIngest accepts a zstd frame from a client and decodes it.
func (s *server) handleIngest(w http.ResponseWriter, r *http.Request) {
	frame, _ := io.ReadAll(r.Body)
	plain, err := s.decoder.DecodeAll(frame, nil)
	truth.payload(fnDecodeAll, len(plain), len(frame), err, false)
	if err != nil {
		http.Error(w, "corrupt frame: "+err.Error(), http.StatusUnprocessableEntity)
		return
	}
	fmt.Fprintf(w, "%d\n", len(plain))
}

// handleGet serves a blob, gzip-compressed when the client accepts it.
func (s *server) handleGet(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	frame, ok := s.blobs[r.URL.Query().Get("key")]
	s.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	plain, err := s.decoder.DecodeAll(frame, nil)
	truth.payload(fnDecodeAll, len(plain), len(frame), err, false)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Encoding", "gzip")
	out := &counter{w: w}
	gz := gzip.NewWriter(out)
	_, werr := gz.Write(plain)
	if err := gz.Close(); werr == nil {
		werr = err
	}
	truth.payload(fnGzipClose, len(plain), out.n, werr, true)
}

func payload(rng *rand.Rand, n int, incompressible bool) []byte {
	b := make([]byte, n)
	if incompressible {
		rng.Read(b)
		return b
	}
	words := []string{"order ", "customer ", "invoice ", "shipment ", "status=ok "}
	var buf bytes.Buffer
	for buf.Len() < n {
		buf.WriteString(words[rng.Intn(len(words))])
	}
	return buf.Bytes()[:n]
}

// load drives the server: uploads (1 in 20 incompressible), reads, and
// ingests (1 in 50 corrupt), from several client goroutines.
func load(base string, clients int, stop <-chan struct{}) {
	var wg sync.WaitGroup
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			rng := rand.New(rand.NewSource(int64(c)))
			enc, _ := zstd.NewWriter(nil)
			client := &http.Client{Timeout: 5 * time.Second}
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				key := strconv.Itoa(c*1000000 + i%500)
				body := payload(rng, 512+rng.Intn(64*1024), rng.Intn(20) == 0)
				post(client, base+"/upload?key="+key, body)
				get(client, base+"/blob?key="+key)
				plain := payload(rng, 2048+rng.Intn(8192), false)
				frame := enc.EncodeAll(plain, nil)
				truth.payload(fnEncodeAll, len(plain), len(frame), nil, true)
				if rng.Intn(50) == 0 {
					frame = frame[:len(frame)/2]
				}
				post(client, base+"/ingest", frame)
				time.Sleep(time.Duration(rng.Intn(5)) * time.Millisecond)
			}
		}(c)
	}
	wg.Wait()
}

func post(c *http.Client, url string, body []byte) {
	resp, err := c.Post(url, "application/octet-stream", bytes.NewReader(body))
	if err == nil {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}

func get(c *http.Client, url string) {
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := c.Do(req)
	if err == nil {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address (loopback)")
	clients := flag.Int("load", 4, "load-generator goroutines (0: serve only)")
	duration := flag.Duration("duration", 0, "exit after this long (0: run until SIGINT/SIGTERM)")
	truthFile := flag.String("truth", "", "at exit, write the service's own payload tally here (JSON)")
	flag.Parse()

	s := newServer()
	mux := http.NewServeMux()
	mux.HandleFunc("/upload", s.handleUpload)
	mux.HandleFunc("/ingest", s.handleIngest)
	mux.HandleFunc("/blob", s.handleGet)
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Fprintf(os.Stderr, "demo-service pid %d listening on %s\n", os.Getpid(), ln.Addr())
	go http.Serve(ln, mux)

	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		if *clients > 0 {
			load("http://"+ln.Addr().String(), *clients, stop)
		}
		close(done)
	}()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	var timeout <-chan time.Time
	if *duration > 0 {
		timeout = time.After(*duration)
	}
	select {
	case <-sig:
	case <-timeout:
	}
	close(stop)
	if *clients > 0 {
		<-done
	}
	if *truthFile != "" {
		truth.mu.Lock()
		b, _ := json.MarshalIndent(truth, "", "  ")
		truth.mu.Unlock()
		if err := os.WriteFile(*truthFile, append(b, '\n'), 0o644); err != nil {
			log.Fatal(err)
		}
	}
}
