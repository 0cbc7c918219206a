package collectors

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// ConnFilter selects connections by address and port (the `--conn`
// flag). It is a comma-separated list of terms, any of which may match
// either end of a connection:
//
//	443              a port
//	198.18.0.1       an address
//	198.18.0.0/15    a prefix
//	198.18.0.1:443   an address and port
//	[2001:db8::1]:443
//
// The zero value matches every connection.
type ConnFilter struct {
	terms []connTerm
	text  string
}

// connTerm is one term: an address range, a port, or both.
type connTerm struct {
	prefix netip.Prefix // invalid: any address
	port   uint16       // 0: any port
}

// ParseConnFilter parses a filter; the error names the term it could not
// read and the forms it accepts.
func ParseConnFilter(s string) (ConnFilter, error) {
	f := ConnFilter{text: s}
	for _, raw := range strings.Split(s, ",") {
		t, err := parseConnTerm(strings.TrimSpace(raw))
		if err != nil {
			return ConnFilter{}, fmt.Errorf("connection filter %q: %w; use a port (443), an address (198.18.0.1), a prefix (198.18.0.0/15) or an address and port (198.18.0.1:443, [2001:db8::1]:443), comma-separated", raw, err)
		}
		f.terms = append(f.terms, t)
	}
	return f, nil
}

func parseConnTerm(s string) (connTerm, error) {
	switch {
	case s == "":
		return connTerm{}, fmt.Errorf("empty term")
	case strings.Contains(s, "/"):
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return connTerm{}, err
		}
		return connTerm{prefix: p.Masked()}, nil
	}
	if p, err := strconv.ParseUint(s, 10, 16); err == nil {
		if p == 0 {
			return connTerm{}, fmt.Errorf("port 0")
		}
		return connTerm{port: uint16(p)}, nil
	}
	if a, err := netip.ParseAddr(s); err == nil {
		a = a.Unmap()
		return connTerm{prefix: netip.PrefixFrom(a, a.BitLen())}, nil
	}
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return connTerm{}, err
	}
	a := ap.Addr().Unmap()
	return connTerm{prefix: netip.PrefixFrom(a, a.BitLen()), port: ap.Port()}, nil
}

// Match reports whether a connection between local and remote matches.
func (f ConnFilter) Match(local, remote netip.AddrPort) bool {
	if len(f.terms) == 0 {
		return true
	}
	for _, t := range f.terms {
		if t.matches(local) || t.matches(remote) {
			return true
		}
	}
	return false
}

func (t connTerm) matches(a netip.AddrPort) bool {
	return (t.port == 0 || t.port == a.Port()) && (!t.prefix.IsValid() || t.prefix.Contains(a.Addr()))
}

// String returns the filter as given.
func (f ConnFilter) String() string { return f.text }
