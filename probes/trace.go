// Package probes traces network paths hop by hop.
package probes

// Trace is the result of tracing one path.
type Trace struct{}
