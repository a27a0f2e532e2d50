// Command callloop is gozt's overhead benchmark target: after SIGUSR1 (or at
// once with -now) it calls github.com/golang/snappy.Encode on a fixed input
// in a tight loop from -workers goroutines and prints how long a call took on
// average, as JSON. Input size and call count come from flags. With -ticks N
// the first goroutine also notes the wall time after every N calls, so that
// a benchmark can time windows of one run (bare, then trapped, then bare...),
// and SIGUSR2 ends the loop. With -spawn every call runs on a goroutine of its
// own, one after another, as an HTTP server runs a handler per request. With
// -gzip a call is one gzip stream instead: Reset, one Write of the input,
// Close, into a writer that counts (the output gozt's sink sites see); with
// -build each stream builds its gzip writer (gzip.NewWriterLevel) instead of
// resetting the goroutine's one.
package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net"
	"flag"
	"fmt"
	"math/rand"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	gsnappy "github.com/golang/snappy"
)

type result struct {
	Pid       int     `json:"pid"`
	Size      int     `json:"size"`
	Calls     int     `json:"calls"`
	Workers   int     `json:"workers"`
	Seconds   float64 `json:"seconds"`
	NsPerCall float64 `json:"ns_per_call"`
	CallsPerS float64 `json:"calls_per_s"`
	// CPU time the process spent during the loop, in user and kernel mode:
	// uprobe traps and their programs run in the kernel.
	UserS   float64 `json:"user_s"`
	SystemS float64 `json:"system_s"`
	// Unix nanoseconds after every -ticks calls of the first goroutine.
	Ticks []int64 `json:"ticks,omitempty"`
}

func cpu() (user, system float64) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, 0
	}
	return float64(ru.Utime.Nano()) / 1e9, float64(ru.Stime.Nano()) / 1e9
}

func main() {
	size := flag.Int("size", 64, "input bytes per call")
	calls := flag.Int("calls", 200000, "calls per worker")
	workers := flag.Int("workers", 1, "goroutines calling in parallel")
	now := flag.Bool("now", false, "start at once instead of waiting for SIGUSR1")
	every := flag.Int("ticks", 0, "note the time after every this many calls (first goroutine)")
	spawn := flag.Bool("spawn", false, "make each call on a new goroutine")
	gz := flag.Bool("gzip", false, "each call is a gzip stream of -size bytes of text")
	sock := flag.Bool("sock", false, "with -gzip, each stream's output is then written to a TCP socket (loopback, drained)")
	build := flag.Bool("build", false, "with -gzip, build a gzip writer for each stream instead of resetting one")
	flag.Parse()

	src := make([]byte, *size)
	rand.New(rand.NewSource(1)).Read(src[:len(src)/2])
	if *gz {
		// Text compresses about as a JSON API's responses do (4-6x).
		words := []string{"order ", "customer ", "invoice ", "shipment ", "status=ok ", "id="}
		rng := rand.New(rand.NewSource(1))
		var b bytes.Buffer
		for b.Len() < *size {
			b.WriteString(words[rng.Intn(len(words))])
			b.WriteString(fmt.Sprint(rng.Intn(100000)))
		}
		src = b.Bytes()[:*size]
	}
	zws := make([]*gzip.Writer, *workers)
	for i := range zws {
		zws[i] = gzip.NewWriter(io.Discard)
	}
	// With -sock: each worker's stream into a buffer, then to its socket.
	bufs := make([]bytes.Buffer, *workers)
	conns := make([]net.Conn, *workers)
	if *sock {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			panic(err)
		}
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go io.Copy(io.Discard, c)
			}
		}()
		for i := range conns {
			if conns[i], err = net.Dial("tcp", ln.Addr().String()); err != nil {
				panic(err)
			}
		}
	}
	dsts := make([][]byte, *workers)
	for i := range dsts {
		dsts[i] = make([]byte, gsnappy.MaxEncodedLen(*size))
	}
	if !*now {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGUSR1)
		fmt.Fprintf(os.Stderr, "callloop %d waiting for SIGUSR1\n", os.Getpid())
		<-sig
	}
	var ticks []int64
	// With -ticks, SIGUSR2 ends the loop early (at a tick).
	var stop atomic.Bool
	if *every > 0 {
		ticks = make([]int64, 0, *calls / *every + 1)
		end := make(chan os.Signal, 1)
		signal.Notify(end, syscall.SIGUSR2)
		go func() {
			<-end
			stop.Store(true)
		}()
	}
	made := make([]int, *workers)
	var wg sync.WaitGroup
	user0, sys0 := cpu()
	start := time.Now()
	for w := 0; w < *workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			dst := dsts[w]
			done := make(chan struct{})
			for i := 0; i < *calls; i++ {
				if *gz && *sock {
					bufs[w].Reset()
					zws[w].Reset(&bufs[w])
					zws[w].Write(src)
					zws[w].Close()
					if _, err := conns[w].Write(bufs[w].Bytes()); err != nil {
						panic(err)
					}
				} else if *gz && *build {
					zw, _ := gzip.NewWriterLevel(io.Discard, gzip.DefaultCompression)
					zw.Write(src)
					zw.Close()
				} else if *gz {
					zws[w].Reset(io.Discard)
					zws[w].Write(src)
					zws[w].Close()
				} else if *spawn {
					go func() {
						gsnappy.Encode(dst, src)
						done <- struct{}{}
					}()
					<-done
				} else {
					gsnappy.Encode(dst, src)
				}
				if *every > 0 && (i+1)%*every == 0 {
					if w == 0 {
						ticks = append(ticks, time.Now().UnixNano())
					}
					if stop.Load() {
						made[w] = i + 1
						return
					}
				}
			}
			made[w] = *calls
		}(w)
	}
	wg.Wait()
	secs := time.Since(start).Seconds()
	user1, sys1 := cpu()
	total := 0
	for _, n := range made {
		total += n
	}
	json.NewEncoder(os.Stdout).Encode(result{
		Pid: os.Getpid(), Size: *size, Calls: total, Workers: *workers, Seconds: secs,
		NsPerCall: secs * 1e9 / float64(made[0]), CallsPerS: float64(total) / secs,
		UserS: user1 - user0, SystemS: sys1 - sys0, Ticks: ticks,
	})
}
