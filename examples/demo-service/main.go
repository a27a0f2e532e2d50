// Command demo-service is the kind of Go service gozt is for: an HTTP API that
// stores and serves blobs, compressing them with a pool of zstd encoders,
// serving gzip-compressed responses, and decoding frames clients upload, some
// of them corrupt. Its built-in load generator (-load) drives it over
// loopback, so `gozt probes`/`gozt attach` have something real to look at.
package main

import (
	"bytes"
	"compress/gzip"
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
	s.mu.Lock()
	s.blobs[r.URL.Query().Get("key")] = frame
	s.mu.Unlock()
	fmt.Fprintf(w, "%d -> %d\n", len(body), len(frame))
}

// handleIngest accepts a zstd frame from a client and decodes it.
func (s *server) handleIngest(w http.ResponseWriter, r *http.Request) {
	frame, _ := io.ReadAll(r.Body)
	plain, err := s.decoder.DecodeAll(frame, nil)
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
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Encoding", "gzip")
	gz := gzip.NewWriter(w)
	gz.Write(plain)
	gz.Close()
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
				frame := enc.EncodeAll(payload(rng, 2048+rng.Intn(8192), false), nil)
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
}
