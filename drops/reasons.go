package drops

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/cilium/ebpf/btf"
)

// reasonPrefix is the only prefix stripped from the kernel's names:
// SKB_CONSUMED and SKB_NOT_DROPPED_YET are names of their own, and
// SKB_CSUM or SKB_GSO_SEG are names after the prefix is gone.
const reasonPrefix = "SKB_DROP_REASON_"

// subsysShift: a reason's high 16 bits name the subsystem that defined it
// (enum skb_drop_reason_subsys; 0 is the core list), the low 16 bits its
// code there (include/net/dropreason.h, SKB_DROP_REASON_SUBSYS_SHIFT).
const subsysShift = 16

// Reasons names the running kernel's drop reasons. The numbers are not a
// stable ABI (kernels reorder enum skb_drop_reason), so the names are
// always read from the kernel that produced the numbers, never from a
// table built into netdx.
type Reasons struct {
	// From says where the names came from: "btf" (enum skb_drop_reason
	// in the kernel's BTF) or "tracefs" (the kfree_skb format file).
	From   string
	core   map[uint32]string
	subsys map[uint16]string
}

// Name is the reason's name without the SKB_DROP_REASON_ prefix:
// "NO_SOCKET". A subsystem's reason is "SUBSYSTEM+code"
// ("OPENVSWITCH+3", or "SUBSYS_7+3" when the kernel does not name the
// subsystem); a number the kernel did not name is "UNKNOWN_<n>".
func (r *Reasons) Name(v uint32) string {
	if sub := uint16(v >> subsysShift); sub != 0 {
		name, ok := r.subsys[sub]
		if !ok {
			name = "SUBSYS_" + strconv.Itoa(int(sub))
		}
		return name + "+" + strconv.Itoa(int(v&0xffff))
	}
	if name, ok := r.core[v]; ok {
		return name
	}
	return "UNKNOWN_" + strconv.FormatUint(uint64(v), 10)
}

// Len is the number of core reasons named.
func (r *Reasons) Len() int { return len(r.core) }

// ErrNoReasons means the kernel describes no drop reasons: it is older
// than 5.17, or its BTF or tracefs lacks the kfree_skb reason.
var ErrNoReasons = errors.New("the kernel names no drop reasons (kfree_skb has a reason since Linux 5.17)")

// ReasonsFromBTF reads enum skb_drop_reason, and enum
// skb_drop_reason_subsys when present, from a BTF spec
// (btf.LoadKernelSpec for the running kernel).
func ReasonsFromBTF(spec *btf.Spec) (*Reasons, error) {
	var e *btf.Enum
	if err := spec.TypeByName("skb_drop_reason", &e); err != nil {
		return nil, fmt.Errorf("%w: BTF has no enum skb_drop_reason: %w", ErrNoReasons, err)
	}
	r := &Reasons{From: "btf", core: map[uint32]string{}, subsys: map[uint16]string{}}
	for _, v := range e.Values {
		// SKB_DROP_REASON_SUBSYS_MASK is a mask, not a reason.
		if v.Value>>subsysShift != 0 {
			continue
		}
		r.core[uint32(v.Value)] = strings.TrimPrefix(v.Name, reasonPrefix)
	}
	var sub *btf.Enum
	if spec.TypeByName("skb_drop_reason_subsys", &sub) == nil {
		for _, v := range sub.Values {
			name := strings.TrimPrefix(v.Name, reasonPrefix+"SUBSYS_")
			// SUBSYS_NUM counts the subsystems; it names none.
			if v.Value != 0 && v.Value <= 0xffff && name != "NUM" {
				r.subsys[uint16(v.Value)] = name
			}
		}
	}
	return r, nil
}

// Field is one field of a tracepoint's record, as its format file
// describes it.
type Field struct {
	Offset, Size int
	Signed       bool
}

// Format is what the kfree_skb tracepoint's format file says: where each
// field sits in the raw record, and the reason names of its print format.
type Format struct {
	Fields  map[string]Field
	Reasons *Reasons
}

// ParseFormat parses a tracepoint format file
// (/sys/kernel/tracing/events/skb/kfree_skb/format). The reason names
// come from the __print_symbolic list for REC->reason, which the kernel
// writes with the prefix already stripped and the numbers resolved.
func ParseFormat(rd io.Reader) (*Format, error) {
	f := &Format{Fields: map[string]Field{}}
	sc := bufio.NewScanner(rd)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	var printFmt string
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if rest, ok := strings.CutPrefix(text, "print fmt:"); ok {
			printFmt = rest
			continue
		}
		if !strings.HasPrefix(text, "field:") {
			continue
		}
		name, fld, err := parseField(text)
		if err != nil {
			return nil, fmt.Errorf("format line %d: %w", line, err)
		}
		f.Fields[name] = fld
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if _, ok := f.Fields["reason"]; !ok {
		return nil, fmt.Errorf("%w: the format has no reason field", ErrNoReasons)
	}
	r, err := parseSymbolic(printFmt, "REC->reason")
	if err != nil {
		return nil, err
	}
	f.Reasons = r
	return f, nil
}

// parseField parses "field:unsigned short protocol;\toffset:32;\tsize:2;\tsigned:0;".
func parseField(text string) (string, Field, error) {
	var fld Field
	var name string
	for _, part := range strings.Split(text, ";") {
		key, val, ok := strings.Cut(strings.TrimSpace(part), ":")
		if !ok {
			continue
		}
		var err error
		switch key {
		case "field":
			// The declaration's last word is the name; arrays
			// ("char comm[16]") keep only the name.
			decl := strings.Fields(val)
			if len(decl) == 0 {
				return "", fld, errors.New("field without a name")
			}
			name, _, _ = strings.Cut(decl[len(decl)-1], "[")
		case "offset":
			fld.Offset, err = strconv.Atoi(val)
		case "size":
			fld.Size, err = strconv.Atoi(val)
		case "signed":
			fld.Signed = val == "1"
		}
		if err != nil || fld.Offset < 0 || fld.Size < 0 {
			return "", fld, fmt.Errorf("bad %s %q", key, val)
		}
	}
	if name == "" {
		return "", fld, errors.New("field without a name")
	}
	return name, fld, nil
}

// parseSymbolic reads the { value, "NAME" } pairs of
// __print_symbolic(arg, ...) in a print format.
func parseSymbolic(printFmt, arg string) (*Reasons, error) {
	_, list, ok := strings.Cut(printFmt, "__print_symbolic("+arg+",")
	if !ok {
		return nil, fmt.Errorf("%w: the print format has no __print_symbolic list for %s", ErrNoReasons, arg)
	}
	r := &Reasons{From: "tracefs", core: map[uint32]string{}}
	for {
		open := strings.IndexByte(list, '{')
		end := strings.IndexByte(list, ')')
		if open < 0 || (end >= 0 && end < open) {
			break
		}
		closing := strings.IndexByte(list[open:], '}')
		if closing < 0 {
			return nil, errors.New("print format: unterminated { value, name } pair")
		}
		pair := list[open+1 : open+closing]
		list = list[open+closing+1:]
		num, name, ok := strings.Cut(pair, ",")
		if !ok {
			return nil, fmt.Errorf("print format: bad pair {%s}", pair)
		}
		v, err := strconv.ParseUint(strings.TrimSpace(num), 0, 32)
		name = strings.Trim(strings.TrimSpace(name), `"`)
		if err != nil || name == "" {
			return nil, fmt.Errorf("print format: bad pair {%s}", pair)
		}
		if v>>subsysShift == 0 {
			r.core[uint32(v)] = strings.TrimPrefix(name, reasonPrefix)
		}
	}
	if len(r.core) == 0 {
		return nil, fmt.Errorf("%w: the print format lists no reasons", ErrNoReasons)
	}
	return r, nil
}
