//go:build !linux

package caps

import (
	"errors"
	"runtime"
)

// Effective is not available outside Linux.
func Effective() (Set, error) {
	return 0, errors.New("capabilities are Linux-only, not " + runtime.GOOS)
}
