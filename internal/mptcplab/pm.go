// Package mptcplab builds MPTCP lab set-ups for netdx's integration tests:
// it configures the in-kernel path manager of a lab namespace (endpoints and
// limits) through generic netlink, the way `ip mptcp` does, and builds a
// client and a server joined by two "WAN links".
//
// It is test support only: product code reads MPTCP state and never changes
// it.
package mptcplab

import (
	"fmt"
	"net/netip"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"

	"github.com/netdx/netdx/internal/netlab"
)

// Generic netlink family mptcp_pm, from include/uapi/linux/mptcp_pm.h.
const (
	pmFamily  = "mptcp_pm"
	pmVersion = 1

	cmdAddAddr   = 1
	cmdDelAddr   = 2
	cmdSetLimits = 5

	attrAddr          = 1
	attrRcvAddAddrs   = 2
	attrSubflows      = 3
	addrAttrFamily    = 1
	addrAttrID        = 2
	addrAttrAddr4     = 3
	addrAttrAddr6     = 4
	addrAttrFlags     = 6
	addrAttrIfIdx     = 7
	nlaNested         = 1 << 15
	maxEndpointFlagOK = FlagSignal | FlagSubflow | FlagBackup | FlagFullmesh
)

// Endpoint flags, as `ip mptcp endpoint add ... FLAGS` sets them.
const (
	FlagSignal   uint32 = 1 << 0
	FlagSubflow  uint32 = 1 << 1
	FlagBackup   uint32 = 1 << 2
	FlagFullmesh uint32 = 1 << 3
)

// Endpoint is one in-kernel path manager endpoint.
type Endpoint struct {
	// ID is the endpoint id; 0 lets the kernel choose.
	ID   uint8
	Addr netip.Addr
	// Dev binds the endpoint to an interface; empty for none.
	Dev   string
	Flags uint32
}

// AddEndpoint adds ep to the path manager of ns, like `ip mptcp endpoint
// add ADDR [dev DEV] [id ID] FLAGS`. Existing connections get subflows from
// a new subflow endpoint at once.
func AddEndpoint(ns *netlab.NS, ep Endpoint) error {
	if ep.Flags&^maxEndpointFlagOK != 0 {
		return fmt.Errorf("mptcp endpoint %v: unknown flags %#x", ep.Addr, ep.Flags)
	}
	ifindex := 0
	if ep.Dev != "" {
		l, err := ns.Netlink().LinkByName(ep.Dev)
		if err != nil {
			return fmt.Errorf("mptcp endpoint %v dev %s: %w", ep.Addr, ep.Dev, err)
		}
		ifindex = l.Attrs().Index
	}
	addr := nl.NewRtAttr(attrAddr|nlaNested, nil)
	family, a := uint16(unix.AF_INET), addrAttrAddr4
	if ep.Addr.Is6() && !ep.Addr.Is4In6() {
		family, a = unix.AF_INET6, addrAttrAddr6
	}
	addr.AddRtAttr(addrAttrFamily, nl.Uint16Attr(family))
	ip := ep.Addr.Unmap().AsSlice()
	addr.AddRtAttr(a, ip)
	if ep.ID != 0 {
		addr.AddRtAttr(addrAttrID, nl.Uint8Attr(ep.ID))
	}
	addr.AddRtAttr(addrAttrFlags, nl.Uint32Attr(ep.Flags))
	if ifindex != 0 {
		addr.AddRtAttr(addrAttrIfIdx, nl.Uint32Attr(uint32(ifindex)))
	}
	return pmDo(ns, cmdAddAddr, addr)
}

// DeleteEndpoint removes endpoint id from the path manager of ns, like
// `ip mptcp endpoint delete id ID`; subflows using it are closed.
func DeleteEndpoint(ns *netlab.NS, id uint8) error {
	addr := nl.NewRtAttr(attrAddr|nlaNested, nil)
	addr.AddRtAttr(addrAttrID, nl.Uint8Attr(id))
	return pmDo(ns, cmdDelAddr, addr)
}

// SetLimits sets the path manager limits of ns, like `ip mptcp limits set
// subflows N add_addr_accepted M`.
func SetLimits(ns *netlab.NS, subflows, addAddrAccepted uint32) error {
	return pmDo(ns, cmdSetLimits,
		nl.NewRtAttr(attrRcvAddAddrs, nl.Uint32Attr(addAddrAccepted)),
		nl.NewRtAttr(attrSubflows, nl.Uint32Attr(subflows)))
}

// pmDo sends one mptcp_pm command inside ns and waits for the kernel's ack.
func pmDo(ns *netlab.NS, cmd uint8, attrs ...*nl.RtAttr) error {
	return ns.Do(func() error {
		fam, err := netlink.GenlFamilyGet(pmFamily)
		if err != nil {
			return fmt.Errorf("generic netlink family %s: %w", pmFamily, err)
		}
		req := nl.NewNetlinkRequest(int(fam.ID), unix.NLM_F_ACK)
		req.AddData(&nl.Genlmsg{Command: cmd, Version: pmVersion})
		for _, a := range attrs {
			req.AddData(a)
		}
		if _, err := req.Execute(unix.NETLINK_GENERIC, 0); err != nil {
			return fmt.Errorf("mptcp_pm command %d in %s: %w", cmd, ns.Name, err)
		}
		return nil
	})
}
