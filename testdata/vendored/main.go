// Command vendored uses klauspost/compress through a vendor directory: the
// build script builds it in GOPATH mode (symbols carry a vendor/ prefix) and
// in module mode with -mod=vendor (the build info records module versions).
package main

import (
	"bytes"
	"fmt"

	"github.com/klauspost/compress/zstd"
)

func main() {
	enc, _ := zstd.NewWriter(nil)
	dec, _ := zstd.NewReader(nil)
	src := bytes.Repeat([]byte("vendored "), 512)
	out := enc.EncodeAll(src, nil)
	back, err := dec.DecodeAll(out, nil)
	fmt.Println(len(src), len(out), len(back), err)
}
