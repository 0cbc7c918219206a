package probes

import (
	"context"
	"net"
	"strings"
	"sync"
	"time"
)

// ResolveTimeout caps one reverse lookup.
const ResolveTimeout = 2 * time.Second

// Resolver looks up responders' names in the background. Name never
// blocks: it returns what is known and starts a lookup for what is not,
// so probing is never held up by DNS.
type Resolver struct {
	// Lookup is the reverse lookup; nil means net.DefaultResolver.
	Lookup func(ctx context.Context, addr string) ([]string, error)

	mu    sync.Mutex
	names map[string]string
	busy  map[string]bool
	wg    sync.WaitGroup
	// sem bounds concurrent lookups.
	sem chan struct{}
}

// NewResolver returns a resolver using the system's DNS.
func NewResolver() *Resolver {
	return &Resolver{Lookup: net.DefaultResolver.LookupAddr, names: map[string]string{}, busy: map[string]bool{},
		sem: make(chan struct{}, 8)}
}

// Name returns addr's name if known ("" otherwise) and starts resolving
// it if it has not been asked for yet.
func (r *Resolver) Name(addr string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if n, ok := r.names[addr]; ok {
		return n
	}
	if r.busy[addr] {
		return ""
	}
	r.busy[addr] = true
	r.wg.Add(1)
	go r.resolve(addr)
	return ""
}

func (r *Resolver) resolve(addr string) {
	defer r.wg.Done()
	r.sem <- struct{}{}
	defer func() { <-r.sem }()
	ctx, cancel := context.WithTimeout(context.Background(), ResolveTimeout)
	defer cancel()
	names, err := r.Lookup(ctx, addr)
	name := ""
	if err == nil && len(names) > 0 {
		name = strings.TrimSuffix(names[0], ".")
	}
	r.mu.Lock()
	r.names[addr] = name
	delete(r.busy, addr)
	r.mu.Unlock()
}

// Wait waits up to d for lookups in flight, so a final report can show
// names that arrive just after the last probe.
func (r *Resolver) Wait(d time.Duration) {
	done := make(chan struct{})
	go func() {
		r.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(d):
	}
}

// FillNames sets every responder's name from names, for a final report
// after late lookups finished.
func (tr *Trace) FillNames(names func(addr string) string) {
	for i := range tr.Hops {
		for j := range tr.Hops[i].Responders {
			r := &tr.Hops[i].Responders[j]
			r.Name = names(r.Addr.String())
		}
	}
}
