package main

// The idle-and-wake scenario: many goroutines make a call, sit idle together
// for longer than a second (past any idle timeout a tracer might keep for a
// goroutine's state), then all wake and call again. Every call must be
// counted, on the goroutine that made it.

import (
	"sync"
	"time"

	gsnappy "github.com/golang/snappy"
)

func idleAndWake(t *truth, mu *sync.Mutex, n int, idle time.Duration) {
	var ready, done sync.WaitGroup
	wake := make(chan struct{})
	ready.Add(n)
	for i := 0; i < n; i++ {
		done.Add(1)
		go func(i int) {
			defer done.Done()
			r := &recorder{g: &goroutineTruth{Goid: goid(), Functions: map[string]*counts{}}}
			src := compressible(200+i%1900, int64(i))
			encode := func() {
				enc := gsnappy.Encode(nil, src)
				r.add(fnSnappyEnc, len(src), len(enc), false, true)
			}
			encode()
			ready.Done()
			<-wake
			encode()
			mu.Lock()
			t.Goroutines = append(t.Goroutines, r.g)
			mu.Unlock()
		}(i)
	}
	ready.Wait()
	time.Sleep(idle)
	close(wake)
	done.Wait()
}
