//go:build !linux

package static

import (
	"errors"
	"os"
)

var errNoOpenat2 = errors.New("static: openat2 unavailable")

// openat2Works: openat2 is Linux's; elsewhere os.Root walks the path.
func openat2Works(*os.File) bool { return false }

func openBeneath(*os.File, string) (*os.File, stat, error) {
	return nil, stat{}, errNoOpenat2
}
