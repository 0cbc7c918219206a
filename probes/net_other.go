//go:build !linux

package probes

import (
	"errors"
	"fmt"
	"runtime"
)

// OpenOptions tune how Open picks sockets.
type OpenOptions struct {
	Unprivileged bool
}

// Open is only implemented on Linux.
func Open(Config, OpenOptions) (Network, error) {
	return nil, fmt.Errorf("tracing on %s/%s: %w", runtime.GOOS, runtime.GOARCH, errors.ErrUnsupported)
}
