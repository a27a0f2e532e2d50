//go:build cgo && amd64

// The cgo bindings of the C zstd library, from Debian's packages (linked
// against its libzstd): amd64 cgo builds only, the arm64 cross builds
// having no arm64 libzstd to link.

package main

import (
	"bytes"

	ddzstd "github.com/DataDog/zstd"
	"github.com/valyala/gozstd"
)

const (
	// DataDog's Compress is inlined at its callers: every call is one of
	// CompressLevel. gozstd's exported calls are all inlined wrappers of
	// these two.
	fnDDCompress   = "github.com/DataDog/zstd.CompressLevel"
	fnDDDecompress = "github.com/DataDog/zstd.Decompress"
	fnGozstdComp   = "github.com/valyala/gozstd.compressDictLevel"
	fnGozstdDecomp = "github.com/valyala/gozstd.DecompressDict"
)

func init() { extraRounds = append(extraRounds, cgoZstdRound) }

//go:noinline
func cgoZstdRound(r *recorder, size int, seed int64) {
	for _, src := range [][]byte{compressible(size, seed), random(size, seed), compressible(100, seed)} {
		out, err := ddzstd.Compress(nil, src)
		r.add(fnDDCompress, len(src), len(out), err != nil, true)
		plain, err := ddzstd.Decompress(nil, out)
		r.add(fnDDDecompress, len(out), len(plain), err != nil, false)
		if err != nil || !bytes.Equal(plain, src) {
			panic("DataDog zstd round trip")
		}
		// gozstd appends to dst: its output is what follows the prefix.
		prefix := []byte("gozt")
		out = gozstd.CompressLevel(prefix, src, 1+int(seed%5))
		r.add(fnGozstdComp, len(src), len(out)-len(prefix), false, true)
		plain, err = gozstd.Decompress(prefix, out[len(prefix):])
		r.add(fnGozstdDecomp, len(out)-len(prefix), len(plain)-len(prefix), err != nil, false)
		if err != nil || !bytes.Equal(plain[len(prefix):], src) {
			panic("gozstd round trip")
		}
	}
	// The frame zstdRound decodes in vain: 64 bytes declared, a reserved
	// block type first.
	corrupt := append([]byte{0x28, 0xb5, 0x2f, 0xfd}, random(64, seed)...)
	copy(corrupt[4:], []byte{0x20, 0x40, 0x07, 0x00, 0x00})
	if _, err := ddzstd.Decompress(nil, corrupt); err == nil {
		panic("corrupt frame decoded by DataDog zstd")
	}
	r.add(fnDDDecompress, len(corrupt), 0, true, false)
	if _, err := gozstd.Decompress(nil, corrupt); err == nil {
		panic("corrupt frame decoded by gozstd")
	}
	r.add(fnGozstdDecomp, len(corrupt), 0, true, false)
}
