package probes_test

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"golang.org/x/sys/unix"

	"github.com/netdx/netdx/internal/netlab"
	"github.com/netdx/netdx/probes"
)

// TestProbeSafety: traces send only to the target named, accept only
// replies that quote their own probes, and keep apart from each other.
func TestProbeSafety(t *testing.T) {
	p := netlab.NewPath(t, netlab.PathSpec{Routers: make([]netlab.RouterSpec, 2)})

	for _, v6 := range []bool{false, true} {
		for _, m := range []probes.Method{probes.ICMP, probes.UDP, probes.TCP} {
			for _, unpriv := range []bool{false, true} {
				family, kind := "IPv4", "raw"
				target, src := p.TargetAddr.V4, p.ProberAddr.V4
				if v6 {
					family, target, src = "IPv6", p.TargetAddr.V6, p.ProberAddr.V6
				}
				if unpriv {
					kind = "datagram"
				}
				t.Run(fmt.Sprintf("%s %s probes over %s sockets leave only for the target", family, m, kind), func(t *testing.T) {
					if unpriv && m == probes.ICMP {
						if err := p.Prober.SetSysctl("net/ipv4/ping_group_range", "0 0"); err != nil {
							t.Fatal(err)
						}
					}
					path := filepath.Join(t.TempDir(), "prober.pcap")
					rec, err := p.Prober.Record(p.ProberIface, path, 256)
					if err != nil {
						t.Fatal(err)
					}
					tr := traceIn(t, p.Prober, probes.Config{Target: target, Method: m, Count: 3, Interval: 20 * time.Millisecond},
						probes.OpenOptions{Unprivileged: unpriv})
					time.Sleep(50 * time.Millisecond)
					if _, err := rec.Stop(); err != nil {
						t.Fatal(err)
					}
					sent, others := outgoing(t, path, src, target)
					probesSent := len(tr.Probes)
					if len(others) > 0 {
						t.Errorf("packets to other destinations: %v", others)
					}
					if sent < probesSent {
						t.Errorf("recorded %d packets to the target, fewer than the %d probes sent", sent, probesSent)
					}
					if tr.End != probes.EndReached {
						t.Errorf("end %s", tr.End)
					}
					t.Logf("reliability: %d probes; %d packets left the prober from %s, every one to %s, none elsewhere", probesSent, sent, src, target)
				})
			}
		}
	}

	for _, unpriv := range []bool{false, true} {
		kind := "raw"
		if unpriv {
			kind = "datagram"
		}
		t.Run("forged time-exceeded quoting another trace's probes, "+kind+" ICMP", func(t *testing.T) {
			// A path of its own: routers at kernel defaults answer six
			// time-exceeded at once per prober address, and the six
			// probes here must all be answered.
			p := netlab.NewPath(t, netlab.PathSpec{Routers: make([]netlab.RouterSpec, 2)})
			if err := p.Prober.SetSysctl("net/ipv4/ping_group_range", "0 0"); err != nil {
				t.Fatal(err)
			}
			cfg := probes.Config{Target: p.TargetAddr.V4, Count: 6, Interval: 30 * time.Millisecond}
			stop := make(chan struct{})
			var forged int
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				forged = forge(t, p, stop)
			}()
			tr := traceIn(t, p.Prober, cfg, probes.OpenOptions{Unprivileged: unpriv})
			close(stop)
			wg.Wait()
			wantHops(t, tr, routerAddrs(p, false))
			for _, h := range tr.Hops {
				if h.Sent != 6 || h.Recv != 6 {
					t.Errorf("hop %d: %d of %d answered, want 6 of 6", h.TTL, h.Recv, h.Sent)
				}
			}
			if tr.Stray != 0 {
				t.Errorf("%d stray replies: forged messages reached the tracer", tr.Stray)
			}
			if forged == 0 {
				t.Fatal("no forged message was sent")
			}
			t.Logf("reliability: %d forged time-exceeded (other echo id, other UDP port) from %s sent during the trace; none matched, 0 stray; every hop 6 of 6 from its own router",
				forged, p.ProberAddr.V4)
		})
	}

	t.Run("two ICMP traces at once in one namespace", func(t *testing.T) {
		// Each from an address of its own, so that each has the
		// routers' six-answer burst to itself and the counts are exact.
		var res [2]*probes.Trace
		var wg sync.WaitGroup
		for i := range res {
			cfg := probes.Config{Target: p.TargetAddr.V4, Source: p.ProberAlias(t, i+1), Count: 6, Interval: 20 * time.Millisecond}
			wg.Add(1)
			go func() {
				defer wg.Done()
				res[i] = traceIn(t, p.Prober, cfg, probes.OpenOptions{})
			}()
		}
		wg.Wait()
		for i, tr := range res {
			wantHops(t, tr, routerAddrs(p, false))
			for _, h := range tr.Hops {
				if h.Sent != 6 || h.Recv != 6 {
					t.Errorf("trace %d hop %d: Snt %d Recv %d, want 6 and 6", i, h.TTL, h.Sent, h.Recv)
				}
			}
			if tr.Stray != 0 {
				t.Errorf("trace %d: %d stray replies", i, tr.Stray)
			}
		}
		t.Logf("reliability: both traces Snt 6 Recv 6 at each of %d hops, 0 stray: no reply counted twice or crossed", len(res[0].Hops))
	})
}

// outgoing reads a recording and counts the IP packets sent from src to
// dst, listing those from src to anywhere else. Neighbour discovery and
// ARP are the kernel's own and not probes.
func outgoing(t *testing.T, path string, src, dst netip.Addr) (int, []string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	var others []string
	for {
		data, _, err := r.ReadPacketData()
		if err != nil {
			break
		}
		pkt := gopacket.NewPacket(data, layers.LayerTypeEthernet, gopacket.Lazy)
		var s, d netip.Addr
		switch ip := pkt.NetworkLayer().(type) {
		case *layers.IPv4:
			s, _ = netip.AddrFromSlice(ip.SrcIP.To4())
			d, _ = netip.AddrFromSlice(ip.DstIP.To4())
		case *layers.IPv6:
			if ic, ok := pkt.Layer(layers.LayerTypeICMPv6).(*layers.ICMPv6); ok && ic.TypeCode.Type() >= 130 && ic.TypeCode.Type() <= 143 {
				continue // MLD and neighbour discovery
			}
			s, _ = netip.AddrFromSlice(ip.SrcIP)
			d, _ = netip.AddrFromSlice(ip.DstIP)
		default:
			continue
		}
		if s != src {
			continue
		}
		if d == dst {
			n++
		} else {
			others = append(others, d.String())
		}
	}
	return n, others
}

// forge sends, from a second raw socket in the prober's namespace to the
// prober's own address, ICMP time-exceeded messages quoting echo requests
// with other identifiers and UDP datagrams from another port, towards the
// real target, until stop; it returns how many it sent.
func forge(t *testing.T, p *netlab.Path, stop chan struct{}) int {
	sent := 0
	err := p.Prober.Do(func() error {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_ICMP)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		to := &unix.SockaddrInet4{Addr: p.ProberAddr.V4.As4()}
		for seq := uint16(0); ; seq++ {
			select {
			case <-stop:
				return nil
			default:
			}
			for _, proto := range []byte{unix.IPPROTO_ICMP, unix.IPPROTO_UDP} {
				msg := timeExceeded(p.ProberAddr.V4, p.TargetAddr.V4, proto, seq)
				if err := unix.Sendto(fd, msg, 0, to); err != nil {
					return err
				}
				sent++
			}
			time.Sleep(2 * time.Millisecond)
		}
	})
	if err != nil {
		t.Errorf("forge: %v", err)
	}
	return sent
}

// timeExceeded builds an ICMP time-exceeded message quoting a probe from
// src to dst that is not ours: an echo request with identifier 0xbeef and
// a foreign payload, or a UDP datagram from port 1 to a traceroute port.
func timeExceeded(src, dst netip.Addr, proto byte, seq uint16) []byte {
	q := make([]byte, 20+16)
	q[0], q[8], q[9] = 0x45, 1, proto
	binary.BigEndian.PutUint16(q[2:4], uint16(len(q)))
	s, d := src.As4(), dst.As4()
	copy(q[12:16], s[:])
	copy(q[16:20], d[:])
	l4 := q[20:]
	if proto == unix.IPPROTO_ICMP {
		l4[0] = 8
		binary.BigEndian.PutUint16(l4[4:6], 0xbeef)
		binary.BigEndian.PutUint16(l4[6:8], seq)
		copy(l4[8:], "notours!")
	} else {
		binary.BigEndian.PutUint16(l4[0:2], 1)
		binary.BigEndian.PutUint16(l4[2:4], probes.BasePort+seq%64)
		binary.BigEndian.PutUint16(l4[4:6], 16)
		copy(l4[8:], "notours!")
	}
	msg := append([]byte{11, 0, 0, 0, 0, 0, 0, 0}, q...)
	binary.BigEndian.PutUint16(msg[2:4], checksum(msg))
	return msg
}

func checksum(b []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return ^uint16(sum)
}
