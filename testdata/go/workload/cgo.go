//go:build cgo

package main

// static int gozt_cgo_answer(void) { return 42; }
import "C"

// cgoAnswer makes the cgo build a real cgo program.
func cgoAnswer() int { return int(C.gozt_cgo_answer()) }

func init() {
	if cgoAnswer() != 42 {
		panic("cgo")
	}
}
