package main

// With -redis, the deep-dive's own case: PUT /kv?key=K stores the request's
// body zstd-compressed in Redis (SET K V through redigo): each payload's
// downstream write is the SET command, whose length is known from the
// key's and the value's (RESP). The payloads are made serving the route
// `PUT /kv`.
//
// The HTTP scenario: a server compressing its responses through gzip and
// zstd streams (text and random bodies, sizes around min-size, a Flush
// mid-stream), and a client on another goroutine fetching each once. The
// handler counts what its stream writes to the response, so each payload's
// compressed size is known exactly.
//
// gzip is served over HTTP/1.1 at /gzip/{kind}/{size}, zstd over HTTP/2
// (TLS, the h2 server bundled in net/http) at /zstd/{kind}/{size}, through
// one ServeMux. The truth names each payload's route as gozt is to name
// it: the mux's pattern where the build has Request.Pattern and the new
// mux (routes_new.go), else the method and the path's first two segments.

import (
	"bytes"
	stdgzip "compress/gzip"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"flag"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gomodule/redigo/redis"
	"github.com/klauspost/compress/zstd"
)

var redisAddr = flag.String("redis", "", "also store PUT /kv bodies, zstd-compressed, in the Redis at this address")

// kvServer stores bodies in Redis, compressed: each SET is its payload's
// downstream write.
type kvServer struct {
	http  *httpServer
	enc   *zstd.Encoder
	mu    sync.Mutex
	conn  redis.Conn
	truth *downstreamTruth
}

func (s *kvServer) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		panic(err)
	}
	key := req.URL.Query().Get("key")
	r := s.http.recorder()
	out := s.enc.EncodeAll(body, nil)
	r.add(fnEncodeAll, len(body), len(out), false, true)
	s.http.addRoute(req, fnEncodeAll, len(body), len(out))
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.conn.Do("SET", key, out); err != nil {
		panic(err)
	}
	// The command as RESP: an array of three bulk strings.
	resp := fmt.Sprintf("*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n", len(key), key, len(out))
	s.truth.Route = route(req)
	s.truth.Payloads++
	s.truth.Writes++
	s.truth.Bytes += uint64(len(resp) + len(out) + 2)
	s.truth.Kinds["tcp"]++
	io.WriteString(w, "stored\n")
}

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

// httpServer records each handler goroutine's calls, and each route's
// payloads.
type httpServer struct {
	mu        sync.Mutex
	recorders map[uint64]*recorder
	routes    map[string]*routeTruth
}

// routeTruth is what gozt is to report for one route.
type routeTruth struct {
	Route             string   `json:"route"`
	Payloads          uint64   `json:"payloads"`
	Eligible          uint64   `json:"eligible"`
	Failures          uint64   `json:"failures"`
	PayloadOriginal   uint64   `json:"payload_original_bytes"`
	PayloadCompressed uint64   `json:"payload_compressed_bytes"`
	Functions         []string `json:"functions"`
}

// route is gozt's name for req's route: the mux's pattern (with the
// method when the pattern has none), else the method and the path cut to
// its first two segments.
func route(req *http.Request) string {
	if p := requestPattern(req); p != "" {
		if strings.Contains(p, " ") {
			return p
		}
		return req.Method + " " + p
	}
	segs := strings.Split(strings.Trim(req.URL.Path, "/"), "/")
	if len(segs) > 2 {
		segs = segs[:2]
	}
	return req.Method + " /" + strings.Join(segs, "/")
}

// addRoute adds one payload of fn (a compressor's, judged) to its route.
func (s *httpServer) addRoute(req *http.Request, fn string, plain, packed int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	name := route(req)
	rt := s.routes[name]
	if rt == nil {
		rt = &routeTruth{Route: name}
		s.routes[name] = rt
	}
	rt.Payloads++
	rt.PayloadOriginal += uint64(plain)
	rt.PayloadCompressed += uint64(packed)
	if plain > *minSize {
		rt.Eligible++
		if packed >= plain {
			rt.Failures++
		}
	}
	for _, f := range rt.Functions {
		if f == fn {
			return
		}
	}
	rt.Functions = append(rt.Functions, fn)
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
		s.addRoute(req, fnStdGzipC, len(body), out.n)
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
		s.addRoute(req, fnZstdC, len(body), out.n)
	default:
		http.Error(w, "codec?", http.StatusBadRequest)
	}
}

// selfSigned is a TLS certificate for 127.0.0.1, made now.
func selfSigned() tls.Certificate {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "workload"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		panic(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// listen serves mux on a loopback port of its own: over TLS (HTTP/2) when
// tlsOn, else plain HTTP/1.1.
func listen(mux http.Handler, tlsOn bool) (*http.Server, string) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	server := &http.Server{Handler: mux}
	if !tlsOn {
		go server.Serve(ln)
		return server, "http://" + ln.Addr().String()
	}
	server.TLSConfig = &tls.Config{Certificates: []tls.Certificate{selfSigned()}}
	go server.ServeTLS(ln, "", "")
	return server, "https://" + ln.Addr().String()
}

// httpRound serves every combination once and adds the handlers' truth.
func httpRound(t *truth, mu *sync.Mutex) {
	srv := &httpServer{recorders: map[uint64]*recorder{}, routes: map[string]*routeTruth{}}
	kv := &kvServer{http: srv, truth: &downstreamTruth{Function: fnEncodeAll, Kinds: map[string]uint64{}}}
	if *redisAddr != "" {
		var err error
		if kv.conn, err = redis.Dial("tcp", *redisAddr); err != nil {
			panic(err)
		}
		if kv.enc, err = zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1)); err != nil {
			panic(err)
		}
	}
	mux := http.NewServeMux()
	handleRoutes(mux, srv, kv)
	plain, plainURL := listen(mux, false)
	secure, secureURL := listen(mux, true)
	client := &http.Client{Transport: &http.Transport{
		DisableCompression: true,
		ForceAttemptHTTP2:  true,
		TLSClientConfig:    &tls.Config{InsecureSkipVerify: true},
	}}
	for _, codec := range []string{"gzip", "zstd"} {
		base, proto := plainURL, 1
		if codec == "zstd" {
			base, proto = secureURL, 2
		}
		for _, kind := range []string{"text", "random"} {
			for _, size := range []int{600, 1024, 1025, 1500, 3000, 20000} {
				for _, flush := range []string{"0", "1"} {
					if codec == "zstd" && flush == "1" {
						continue
					}
					url := fmt.Sprintf("%s/%s/%s/%d?codec=%s&kind=%s&size=%d&flush=%s", base, codec, kind, size, codec, kind, size, flush)
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
					if resp.ProtoMajor != proto {
						panic(fmt.Sprint(codec, " served over ", resp.Proto))
					}
				}
			}
		}
	}
	if *redisAddr != "" {
		for i := 0; i < 20; i++ {
			body := compressible(2000+700*i, int64(i))
			url := fmt.Sprintf("%s/kv?key=item:%d", plainURL, i)
			req, err := http.NewRequest(http.MethodPut, url, bytes.NewReader(body))
			if err != nil {
				panic(err)
			}
			resp, err := client.Do(req)
			if err != nil {
				panic(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				panic(resp.Status)
			}
		}
		kv.conn.Close()
	}
	plain.Close()
	secure.Close()
	mu.Lock()
	defer mu.Unlock()
	srv.mu.Lock()
	defer srv.mu.Unlock()
	for _, r := range srv.recorders {
		t.Goroutines = append(t.Goroutines, r.g)
	}
	for _, rt := range srv.routes {
		t.Routes = append(t.Routes, rt)
	}
	if kv.truth.Payloads > 0 {
		t.Downstream = append(t.Downstream, kv.truth)
	}
}
