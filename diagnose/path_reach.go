package diagnose

import (
	"fmt"
	"strings"

	"github.com/netdx/netdx/probes"
	"github.com/netdx/netdx/report"
)

// Path reachability: a destination that does not answer the chosen probe,
// and hops that refuse to forward.

func init() { onFirstUse(registerPathReach) }

// registerPathReach registers this file's rules, on the catalog's first use.
func registerPathReach() {
	register(Rule{Name: "destination answers", Source: SourcePath, Layer: LayerPath, Check: checkDestination}, Entry{
		ID: "path.destination_unanswered", Title: "The destination does not answer this kind of probe",
		Object: report.ObjectPath,
		Source: SourcePath, Layer: LayerPath, Severity: Warning,
		Explanation: "Probes went past the last answering hop but nothing answered from the destination up to the maximum TTL. " +
			"When the last answering hop is in the destination's own network the path works and the destination (or a firewall " +
			"in front of it) drops this protocol: ICMP echo is often blocked, closed UDP ports often answer nothing, a TCP port " +
			"may be filtered. Otherwise the path itself stops there.",
		Thresholds:  "The trace ended at the maximum TTL without an answer from the destination.",
		Remediation: "Probe with what the destination accepts: --tcp --port 443 (or the service's port) for a server, --icmp for a host that answers ping.",
		Evidence:    []string{"last answering hop", "probes per TTL"},
	})
	register(Rule{Name: "filtering on the path", Source: SourcePath, Layer: LayerPath, Check: checkFiltered}, Entry{
		ID: "path.filtered", Title: "A hop refuses to forward: unreachable or administratively prohibited",
		Object: report.ObjectPath,
		Source: SourcePath, Layer: LayerPath, Severity: Warning,
		Explanation: "A router answered with ICMP destination-unreachable (network, host, or administratively prohibited) " +
			"instead of forwarding. Administratively prohibited means an ACL or firewall rule; network or host unreachable means " +
			"the router has no route, or the last router cannot reach the host.",
		Thresholds:  "Any destination-unreachable other than port or protocol unreachable from the destination itself.",
		Remediation: "Check the ACL, firewall or route at the named hop; try the service's own protocol and port (--tcp --port N), which a filter may allow.",
		Evidence:    []string{"ICMP type and code", "answering hop"},
	})
}

// otherMethods suggests probes the destination may answer.
func otherMethods(tr *probes.Trace) string {
	t := tr.Config.Target.String()
	switch tr.Config.Method {
	case probes.ICMP:
		return fmt.Sprintf("netdx trace --tcp --port 443 %s (or the port the service listens on)", t)
	case probes.UDP:
		return fmt.Sprintf("netdx trace --tcp --port 443 %s, or netdx trace %s (ICMP echo)", t, t)
	}
	return fmt.Sprintf("netdx trace %s (ICMP echo), or another --port", t)
}

func checkDestination(in *Input) Outcome {
	var out Outcome
	var ok []string
	for _, tr := range in.Traces {
		if tr.End != probes.EndMaxTTL {
			if tr.End == probes.EndReached {
				ok = append(ok, fmt.Sprintf("destination answered at hop %d", tr.DestTTL))
			}
			continue
		}
		idx := answering(tr)
		f := Finding{ID: "path.destination_unanswered", Subject: traceSubject(tr),
			Fix: []string{otherMethods(tr)}}
		if len(idx) == 0 {
			f.Summary = fmt.Sprintf("Nothing answered any %s probe, not even the first hop: check the local firewall and route, or probe another way.", tr.Config.Method)
			f.Fix = append(f.Fix, "Check that this host may send the probes: a local firewall (nft list ruleset) or a missing route (ip route get "+tr.Config.Target.String()+").")
			out.Findings = append(out.Findings, f)
			continue
		}
		last := tr.Hops[idx[len(idx)-1]]
		f.Evidence = []Evidence{
			Text("last_answering_hop", fmt.Sprintf("%d %s", last.TTL, last.Primary())),
			Num("max_ttl", float64(tr.Config.MaxTTL), ""),
		}
		if sameNetwork(last.Primary(), tr.Config.Target) {
			f.Summary = fmt.Sprintf("The path reaches the destination's network (%s shares its prefix) but %s never answered %s probes: it or a firewall in front of it drops them.",
				hopName(last), tr.Config.Target, tr.Config.Method)
		} else {
			f.Summary = fmt.Sprintf("The trace stops at %s: nothing answered beyond it up to TTL %d. Either the destination drops %s probes or the path is cut after that hop.",
				hopName(last), tr.Config.MaxTTL, tr.Config.Method)
		}
		out.Findings = append(out.Findings, f)
	}
	if len(out.Findings) == 0 {
		out.Detail = strings.Join(ok, "; ")
	}
	return out
}

func checkFiltered(in *Input) Outcome {
	var out Outcome
	for _, tr := range in.Traces {
		for _, h := range tr.Hops {
			for _, r := range h.Responders {
				if !r.Kind.Filtering() {
					continue
				}
				what := strings.ReplaceAll(string(r.Kind), "_", " ")
				out.Findings = append(out.Findings, Finding{
					ID:      "path.filtered",
					Subject: fmt.Sprintf("%s, %s", traceSubject(tr), hopName(h)),
					Summary: fmt.Sprintf("%s answered %s (ICMP type %d code %d) to %d probe(s): it refuses to forward %s probes to %s.",
						hopName(h), what, r.Type, r.Code, r.Recv, tr.Config.Method, tr.Config.Target),
					Evidence: []Evidence{
						Text("reply", what),
						Num("icmp_type", float64(r.Type), ""),
						Num("icmp_code", float64(r.Code), ""),
						Text("hop", fmt.Sprintf("%d %s", h.TTL, r.Addr)),
					},
					Fix: []string{
						fmt.Sprintf("Check the ACL, firewall rule or route for %s at %s.", tr.Config.Target, r.Addr),
						"Probe with the service's own protocol and port, which the filter may allow: " + otherMethods(tr),
					},
				})
			}
		}
	}
	if len(out.Findings) == 0 {
		out.Detail = "no hop answered unreachable or prohibited"
	}
	return out
}
