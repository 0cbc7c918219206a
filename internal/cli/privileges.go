package cli

import (
	"errors"
	"io/fs"
	"os"

	"github.com/netdx/netdx/internal/caps"
	"github.com/netdx/netdx/probes"
	"github.com/netdx/netdx/report"
)

// runPrivileges says as whom and with which capabilities this run is
// made; tests replace it so golden reports do not depend on who runs them.
var runPrivileges = func() *report.Privileges {
	p := &report.Privileges{UID: os.Geteuid(), Capabilities: []string{}}
	if set, err := caps.Effective(); err == nil {
		p.Capabilities = set.Names()
	}
	return p
}

// setcapFix is how to let netdx open raw sockets without running as root.
const setcapFix = "sudo setcap cap_net_raw+ep $(command -v netdx); in a container add NET_RAW"

// rawSocketsSkip is the NOT READ line of a trace that wanted raw sockets
// and was refused them: what was used instead and what it cost. ok is
// false when raw sockets were used or --unprivileged declined them.
func rawSocketsSkip(o *traceOptions, tr *probes.Trace) (report.Skip, bool) {
	if tr == nil || tr.Network != probes.KindDatagram || o.unprivileged {
		return report.Skip{}, false
	}
	msg := "the kernel refused raw sockets (no CAP_NET_RAW); probes were sent from datagram sockets"
	switch {
	case tr.Config.Method == probes.UDP && !o.udp:
		msg += ", as UDP because ICMP echo sockets were refused too (net.ipv4.ping_group_range)"
	case tr.Config.Method == probes.TCP:
		msg += ", one socket and source port per TCP probe, so they are not one flow and ECMP may spread them"
	}
	return report.Skip{Source: "raw sockets", Reason: report.ReasonPermission, Message: msg,
		Fix: setcapFix, Capability: caps.NetRaw.String()}, true
}

// privilegeSkip adds the capability to the NOT READ line of a trace that
// could not run at all for lack of privilege.
func privilegeSkip(sk report.Skip) report.Skip {
	if sk.Reason == report.ReasonPermission {
		sk.Capability = caps.NetRaw.String()
		if sk.Fix == "" {
			sk.Fix = setcapFix + ", or run as root"
		}
	}
	return sk
}

// failedSkip is the NOT READ line for a merged source that failed.
func failedSkip(source string, err error) report.Skip {
	sk := report.Skip{Source: source, Reason: report.ReasonError, Message: err.Error()}
	var pe *privilegeError
	if errors.As(err, &pe) || errors.Is(err, fs.ErrPermission) {
		sk.Reason = report.ReasonPermission
	}
	return sk
}
