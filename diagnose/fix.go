package diagnose

import (
	"strconv"
	"strings"
)

// A finding's fix lines are checked against what was read before they
// are printed, in one place (prescribe), not by each rule:
//
//   - a line that changes a setting names it and the value it writes
//     (setting, or step(...).sets): it is left out when the setting
//     already has that value, and when the namespace read cannot write
//     it (a host-global setting in a child namespace) it says to run it
//     on the host;
//   - a line the rule's evidence says cannot help here (the TCP timeout of
//     a table full of UDP entries, tcp_max_syn_backlog when the listener's
//     own backlog is the limit) carries that condition (unless): it is left
//     out, and the reason becomes a note;
//   - lines that each fix the problem on their own are alternatives
//     (oneOf), printed "either: …" / "or: …" after those that do not
//     apply are left out.

// remedy is one fix line and what must hold for it to help.
type remedy struct {
	text string
	// set and to are the setting the line writes (its dotted sysctl name)
	// and the value it gives it; empty for a line that writes none.
	set, to string
	// skip, when not empty, says why the line does not apply here.
	skip string
	// alts are the lines of a oneOf group.
	alts []remedy
}

// step is a fix line that changes no setting.
func step(text string) remedy { return remedy{text: text} }

// setting is the line `sysctl -w name=value`, with why after it.
func setting(name, value, why string) remedy {
	text := "sysctl -w " + name + "=" + value
	if strings.Contains(value, " ") {
		text = "sysctl -w " + name + "=\"" + value + "\""
	}
	if why != "" {
		text += "   (" + why + ")"
	}
	return remedy{text: text, set: name, to: value}
}

// settingInt is setting with an integer value.
func settingInt(name string, value int64, why string) remedy {
	return setting(name, strconv.FormatInt(value, 10), why)
}

// sets declares the setting a free-text line writes, so it is checked
// like a setting line.
func (r remedy) sets(name, value string) remedy {
	r.set, r.to = name, value
	return r
}

// unless leaves the line out when cond holds; why, a sentence, becomes a
// note saying so ("" leaves it out silently).
func (r remedy) unless(cond bool, why string) remedy {
	if cond && r.skip == "" {
		r.skip = why
		if why == "" {
			r.skip = " "
		}
	}
	return r
}

// oneOf groups lines that each fix the problem on their own.
func oneOf(rs ...remedy) remedy { return remedy{alts: rs} }

// prescribe appends to f's Fix the lines of rs that apply here, in
// order, and to its Notes why the others were left out.
func (s *sample) prescribe(f *Finding, rs ...remedy) {
	for _, r := range rs {
		if r.alts == nil {
			if line, note := s.check(r); line != "" {
				f.Fix = append(f.Fix, line)
			} else if note != "" {
				f.Notes = append(f.Notes, note)
			}
			continue
		}
		var lines []string
		for _, a := range r.alts {
			line, note := s.check(a)
			if line != "" {
				lines = append(lines, line)
			} else if note != "" {
				f.Notes = append(f.Notes, note)
			}
		}
		for i, l := range lines {
			switch {
			case len(lines) == 1:
				f.Fix = append(f.Fix, l)
			case i == 0:
				f.Fix = append(f.Fix, "either: "+l)
			default:
				f.Fix = append(f.Fix, "or: "+l)
			}
		}
	}
}

// check returns the line as it should be printed, or "" and the note
// saying why it is left out.
func (s *sample) check(r remedy) (line, note string) {
	if r.skip != "" {
		return "", strings.TrimSpace(r.skip)
	}
	if r.set == "" {
		return r.text, ""
	}
	cur, writable, read := s.setting(r.set)
	if read && sameSetting(cur, r.to) {
		return "", ""
	}
	if writable != nil && !*writable {
		return "On the host (" + r.set + " is read-only in this network namespace; the host's value applies to every namespace): " + r.text, ""
	}
	return r.text, ""
}

// setting returns a setting's value as read, whether the namespace read
// may write it (nil when unknown) and whether it was read at all.
func (s *sample) setting(name string) (value string, writable *bool, read bool) {
	if s == nil || s.After == nil {
		return "", nil, false
	}
	switch {
	case name == "net.netfilter.nf_conntrack_max" || name == "net.netfilter.nf_conntrack_buckets":
		// Both are the host's, read-only in a child namespace.
		ct := s.After.Conntrack
		if ct == nil {
			return "", nil, false
		}
		v := ct.Max
		if name == "net.netfilter.nf_conntrack_buckets" {
			v = ct.Buckets
		}
		if v == nil {
			return "", nil, false
		}
		return strconv.FormatUint(*v, 10), ct.MaxWritable, true
	case strings.HasPrefix(name, "net.mptcp."):
		if s.After.MPTCP == nil {
			return "", nil, false
		}
		v, ok := s.After.MPTCP.Sysctls[strings.TrimPrefix(name, "net.mptcp.")]
		return v, nil, ok
	}
	v, ok := s.After.Sysctls[name]
	return v.Value, v.Writable, ok
}

// sameSetting compares two values of a setting as the kernel prints them
// (blanks between numbers do not matter).
func sameSetting(a, b string) bool {
	return strings.Join(strings.Fields(a), " ") == strings.Join(strings.Fields(b), " ")
}
