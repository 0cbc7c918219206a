package diagnose

import (
	"fmt"
	"os"
	"sort"
	"sync"
	"testing"
)

// unnamed collects the findings of every test of the package whose
// catalog entry declares an object kind and which name no subject: the
// catalog-level check that a finding names what it is about. Every rule
// case, scenario, capture and lab test of the package feeds it.
var unnamed struct {
	sync.Mutex
	seen map[string]bool
}

func recordUnnamed(r Rule, f Finding) {
	unnamed.Lock()
	defer unnamed.Unlock()
	unnamed.seen[fmt.Sprintf("rule %q: %s (object %s) has no subject: %s", r.Name, f.ID, f.Object, f.Summary)] = true
}

func TestMain(m *testing.M) {
	unnamed.seen = map[string]bool{}
	missingSubject = recordUnnamed
	code := m.Run()
	if len(unnamed.seen) > 0 {
		var lines []string
		for l := range unnamed.seen {
			lines = append(lines, l)
		}
		sort.Strings(lines)
		fmt.Fprintln(os.Stderr, "FAIL: findings without the subject their catalog entry declares:")
		for _, l := range lines {
			fmt.Fprintln(os.Stderr, "  "+l)
		}
		code = 1
	}
	os.Exit(code)
}

// TestUnnamedSubjectIsCaught breaks the rule on purpose: a finding of an
// entry that declares an object, completed without a subject, reaches the
// check; the same finding with a subject, or of an entry without an
// object, does not.
func TestUnnamedSubjectIsCaught(t *testing.T) {
	var got []string
	missingSubject = func(r Rule, f Finding) { got = append(got, f.ID) }
	defer func() { missingSubject = recordUnnamed }()
	r := Rule{Name: "test", ids: map[string]bool{"tcp.syn_queue_overflow": true, "tcp.retransmits": true}}
	complete(Finding{ID: "tcp.syn_queue_overflow", Summary: "broken on purpose"}, r)
	complete(Finding{ID: "tcp.syn_queue_overflow", Subject: "0.0.0.0:80 (nginx[1])"}, r)
	complete(Finding{ID: "tcp.retransmits"}, r)
	if len(got) != 1 || got[0] != "tcp.syn_queue_overflow" {
		t.Errorf("check caught %v, want the one finding without its subject", got)
	}
	if e, _ := Lookup("tcp.syn_queue_overflow"); e.Object == "" {
		t.Error("tcp.syn_queue_overflow declares no object")
	}
}
