package collectors

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"strings"
)

// sockstat reads /proc/net/sockstat and sockstat6 into Snapshot.Sockstat:
// sockets in use and orphaned per protocol (this namespace), and the
// memory TCP and UDP hold in pages (host-global, compared with tcp_mem and
// udp_mem).
type sockstat struct{}

func init() { Register(sockstat{}) }

func (sockstat) Name() string { return "sockstat" }

func (sockstat) Collect(_ context.Context, src *Sources, snap *Snapshot) error {
	c := NetCounters{}
	for _, name := range []string{"sockstat", "sockstat6"} {
		path := src.netFile(name)
		b, err := readFile(path)
		if err == nil {
			err = parseSockstat(bytes.NewReader(b), path, c)
		}
		if err != nil && !(name == "sockstat6" && errors.Is(err, fs.ErrNotExist)) {
			snap.AddSkip("sockstat", err)
		}
	}
	if len(c) > 0 {
		snap.Sockstat = c
	}
	return nil
}

// parseSockstat parses lines of "PROTO: key value key value ...".
func parseSockstat(r io.Reader, path string, c NetCounters) error {
	sc := bufio.NewScanner(r)
	line, n, counters := 0, 0, 0
	for sc.Scan() {
		line++
		if err := checkText(path, line, sc.Text()); err != nil {
			return err
		}
		proto, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			if strings.TrimSpace(proto) == "" {
				continue
			}
			return parseErr(path, line, "no \"PROTO:\" prefix")
		}
		n++
		f := strings.Fields(rest)
		if len(f)%2 != 0 {
			return parseErr(path, line, "%s: keys and values do not pair up", proto)
		}
		for i := 0; i < len(f); i += 2 {
			v, err := parseCount(f[i+1], 10, 64)
			if err != nil {
				return parseErr(path, line, "%s %s: %v", proto, f[i], err)
			}
			c.set(proto, f[i], v)
			counters++
		}
	}
	if err := sc.Err(); err != nil {
		return parseErr(path, line+1, "%v", err)
	}
	if n == 0 {
		return emptyFile(path)
	}
	if counters == 0 {
		return noCounters(path)
	}
	return nil
}
