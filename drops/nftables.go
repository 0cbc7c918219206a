package drops

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
)

// Rule is an nftables rule that drops packets (verdict drop, or reject),
// or a base chain whose policy drops them, in the namespace where
// NETFILTER_DROP drops happened: the objects a NETFILTER_DROP count is
// reconciled with. Rules are read over netlink (nf_tables), so rules
// iptables-nft writes are seen and iptables-legacy's are not.
type Rule struct {
	Netns Netns
	// Family is the table's family: "inet", "ip", "ip6", "arp",
	// "bridge", "netdev".
	Family, Table, Chain string
	// Handle identifies the rule in its chain (nft -a list ruleset);
	// 0 for a chain's policy.
	Handle  uint64
	Comment string
	// Policy is true for a base chain whose policy is drop: its drops
	// have no counter of their own.
	Policy bool
	// Counted is true when the rule has a counter; Packets is then the
	// packets it matched since Since.
	Counted bool
	Packets uint64
	// Since is when the count starts: when the source started, or, for
	// a namespace first read later, when the rule was added (Since
	// zero: its whole counter).
	Since time.Time
}

// ruleKey identifies a rule across readings.
type ruleKey struct {
	cookie               uint64
	family, table, chain string
	handle               uint64
	policy               bool
}

func (r Rule) key() ruleKey {
	return ruleKey{r.Netns.Cookie, r.Family, r.Table, r.Chain, r.Handle, r.Policy}
}

// rules reads the dropping rules of namespaces and keeps the counters
// read when the source started, so counts are over the source's life.
type rules struct {
	// base holds the first reading of every rule; started says which
	// namespaces were read at Start.
	base    map[ruleKey]uint64
	started map[uint64]time.Time
}

func newRules() *rules { return &rules{base: map[ruleKey]uint64{}, started: map[uint64]time.Time{}} }

// baseline reads the namespace at path (current: netdx's own) now, so
// later counts start here.
func (r *rules) baseline(ns Netns, path string) {
	rs, err := readRules(ns, path)
	if err != nil {
		return
	}
	now := time.Now()
	r.started[ns.Cookie] = now
	for _, x := range rs {
		r.base[x.key()] = x.Packets
	}
}

// read reads the namespace's dropping rules, counted since its baseline
// (or since each rule was added when there is none).
func (r *rules) read(ns Netns, path string) ([]Rule, error) {
	rs, err := readRules(ns, path)
	if err != nil {
		return nil, err
	}
	since, ok := r.started[ns.Cookie]
	for i := range rs {
		base, had := r.base[rs[i].key()]
		switch {
		case ok && had && rs[i].Packets >= base:
			rs[i].Packets -= base
			rs[i].Since = since
		case ok && !had:
			// Added after the baseline: counted from zero since then.
			rs[i].Since = since
		}
	}
	return rs, nil
}

// readRules lists the dropping rules and drop-policy chains of the
// namespace bound at path ("" for netdx's own namespace).
func readRules(ns Netns, path string) ([]Rule, error) {
	var opts []nftables.ConnOption
	if path != "" {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		opts = append(opts, nftables.WithNetNSFd(int(f.Fd())))
	}
	c, err := nftables.New(opts...)
	if err != nil {
		return nil, err
	}
	chains, err := c.ListChains()
	if err != nil {
		return nil, fmt.Errorf("nftables chains: %w", err)
	}
	var out []Rule
	for _, ch := range chains {
		fam := familyName(ch.Table.Family)
		if ch.Policy != nil && *ch.Policy == nftables.ChainPolicyDrop && ch.Hooknum != nil {
			out = append(out, Rule{Netns: ns, Family: fam, Table: ch.Table.Name, Chain: ch.Name, Policy: true})
		}
		rs, err := c.GetRules(ch.Table, ch)
		if err != nil {
			return nil, fmt.Errorf("nftables rules of %s %s %s: %w", fam, ch.Table.Name, ch.Name, err)
		}
		for _, x := range rs {
			rule, ok := dropRule(x)
			if !ok {
				continue
			}
			rule.Netns, rule.Family, rule.Table, rule.Chain = ns, fam, ch.Table.Name, ch.Name
			out = append(out, rule)
		}
	}
	return out, nil
}

// dropRule reports whether the rule drops what it matches, with its
// handle, comment and counter.
func dropRule(x *nftables.Rule) (Rule, bool) {
	r := Rule{Handle: x.Handle}
	drops := false
	for _, e := range x.Exprs {
		switch e := e.(type) {
		case *expr.Verdict:
			drops = drops || e.Kind == expr.VerdictDrop
		case *expr.Reject:
			drops = true
		case *expr.Counter:
			r.Counted, r.Packets = true, e.Packets
		}
	}
	r.Comment, _ = userdata.GetString(x.UserData, userdata.TypeComment)
	return r, drops
}

func familyName(f nftables.TableFamily) string {
	switch f {
	case nftables.TableFamilyINet:
		return "inet"
	case nftables.TableFamilyIPv4:
		return "ip"
	case nftables.TableFamilyIPv6:
		return "ip6"
	case nftables.TableFamilyARP:
		return "arp"
	case nftables.TableFamilyBridge:
		return "bridge"
	case nftables.TableFamilyNetdev:
		return "netdev"
	}
	return fmt.Sprintf("family %d", f)
}

// String names the rule as nft does: "inet filter input handle 4".
func (r Rule) String() string {
	s := strings.Join([]string{r.Family, r.Table, r.Chain}, " ")
	if r.Policy {
		return s + " policy drop"
	}
	s += fmt.Sprintf(" handle %d", r.Handle)
	if r.Comment != "" {
		s += fmt.Sprintf(" (comment %q)", r.Comment)
	}
	return s
}

// sortRules orders rules by namespace, then most packets first.
func sortRules(rs []Rule) {
	slices.SortStableFunc(rs, func(a, b Rule) int {
		if a.Netns.Cookie != b.Netns.Cookie {
			if a.Netns.Cookie < b.Netns.Cookie {
				return -1
			}
			return 1
		}
		if a.Packets != b.Packets {
			if a.Packets > b.Packets {
				return -1
			}
			return 1
		}
		return strings.Compare(a.String(), b.String())
	})
}
