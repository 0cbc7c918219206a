package netlab

import (
	"bufio"
	"bytes"
	"context"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"
)

// tcpCounter reads one counter of the Tcp line of /proc/net/snmp.
func tcpCounter(t *testing.T, ns *NS, name string) int64 {
	t.Helper()
	b, err := ns.ReadNetFile("snmp")
	if err != nil {
		t.Fatal(err)
	}
	var head []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 || f[0] != "Tcp:" {
			continue
		}
		if head == nil {
			head = f
			continue
		}
		for i, h := range head {
			if h == name {
				v, _ := strconv.ParseInt(f[i], 10, 64)
				return v
			}
		}
	}
	t.Fatalf("no Tcp %s in snmp", name)
	return 0
}

// TestRelayLossGroundTruth sends a bulk transfer through a router that
// drops data segments and checks the relay's count against the sender
// kernel's retransmissions.
func TestRelayLossGroundTruth(t *testing.T) {
	p := NewPath(t, PathSpec{Routers: []RouterSpec{{}, {Impair: Impairment{Loss: 0.02, Match: TCPDataTo(5001), Seed: 1}}, {}}})
	before := tcpCounter(t, p.Prober, "RetransSegs")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	tr, err := BulkTCP(ctx, p.Prober, p.Target, netip.AddrPortFrom(p.TargetAddr.V4, 5001), 4<<20)
	if err != nil {
		t.Fatal(err)
	}
	st := p.Hops[1][0].Relay.Settled(time.Second)
	retrans := tcpCounter(t, p.Prober, "RetransSegs") - before
	t.Logf("transfer %d bytes in %s; relay %+v; sender retransmitted %d", tr.Bytes, tr.Duration, st, retrans)
	if st.Dropped == 0 || st.Matched == 0 {
		t.Fatalf("relay dropped nothing: %+v", st)
	}
	// Every dropped segment must be sent again; retransmissions may
	// exceed drops (spurious or tail-loss probes) but never fall short.
	if retrans < int64(st.Dropped) {
		t.Errorf("sender retransmitted %d segments, fewer than the %d the relay dropped", retrans, st.Dropped)
	}
	if st.Received != st.Forwarded+st.Dropped {
		t.Errorf("relay lost track: received %d != forwarded %d + dropped %d", st.Received, st.Forwarded, st.Dropped)
	}
}

// TestRelayReorder swaps adjacent data segments and checks the relay's
// count of displaced packets.
func TestRelayReorder(t *testing.T) {
	p := NewPath(t, PathSpec{Routers: []RouterSpec{{Impair: Impairment{ReorderEvery: 50, Match: TCPDataTo(5002)}}}})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := BulkTCP(ctx, p.Prober, p.Target, netip.AddrPortFrom(p.TargetAddr.V6, 5002), 2<<20); err != nil {
		t.Fatal(err)
	}
	st := p.Hops[0][0].Relay.Settled(time.Second)
	t.Logf("relay %+v", st)
	if st.Displaced == 0 {
		t.Fatalf("nothing displaced: %+v", st)
	}
	// One swap per ReorderEvery matched packets, unless a held packet
	// found no successor in time.
	if max := st.Matched / 50; st.Displaced > max || st.Displaced < max/2 {
		t.Errorf("displaced %d of %d matched packets, want about %d", st.Displaced, st.Matched, max)
	}
	if st.Dropped != 0 || st.Received != st.Forwarded {
		t.Errorf("reordering relay dropped packets: %+v", st)
	}
}

// TestRelayDelay checks that delay adds to the round trip.
func TestRelayDelay(t *testing.T) {
	p := NewPath(t, PathSpec{Routers: []RouterSpec{{Impair: Impairment{Delay: 40 * time.Millisecond}}}})
	l, err := p.Target.Listen("tcp", netip.AddrPortFrom(p.TargetAddr.V4, 5003).String())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		if c, err := l.Accept(); err == nil {
			c.Close()
		}
	}()
	start := time.Now()
	c, err := p.Prober.Dial(context.Background(), "tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	// The SYN and the SYN-ACK both pass the relay.
	if rtt := time.Since(start); rtt < 80*time.Millisecond {
		t.Errorf("handshake took %s through a 40ms-each-way relay", rtt)
	}
	if st := p.Hops[0][0].Relay.Stats(); st.Delayed < 2 {
		t.Errorf("relay delayed %d packets", st.Delayed)
	}
}
