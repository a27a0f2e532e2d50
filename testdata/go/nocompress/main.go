// Command nocompress is a Go program with no compression code at all: gozt
// must refuse it with a clear error.
package main

import (
	"fmt"
	"os"
	"strings"
)

func main() {
	fmt.Println(strings.ToUpper(strings.Join(os.Args[1:], " ")))
}
