package netlab

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"testing"
)

// RequireNFT skips the test, saying why, when the nft tool is missing.
func RequireNFT(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("nft"); err != nil {
		t.Skip("skipped: the nft command is not installed (apt-get install nftables); the test drops packets with nftables")
	}
}

// NFT loads ruleset (nft -f syntax) into the namespace.
func (n *NS) NFT(ruleset string) error {
	cmd := exec.Command("nft", "-f", "-")
	cmd.Stdin = strings.NewReader(ruleset)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := n.Start(cmd); err != nil {
		return err
	}
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("nft -f in %s: %v: %s", n.Name, err, out.String())
	}
	return nil
}

// NFTRuleCounter is the packet count of the rule whose comment is
// comment (the rule must have a counter), from nft -j list ruleset.
func (n *NS) NFTRuleCounter(comment string) (uint64, error) {
	cmd := exec.Command("nft", "-j", "list", "ruleset")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := n.Start(cmd); err != nil {
		return 0, err
	}
	if err := cmd.Wait(); err != nil {
		return 0, fmt.Errorf("nft list ruleset in %s: %v: %s", n.Name, err, errb.String())
	}
	var doc struct {
		Nftables []struct {
			Rule *struct {
				Comment string                       `json:"comment"`
				Expr    []map[string]json.RawMessage `json:"expr"`
			} `json:"rule"`
		} `json:"nftables"`
	}
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		return 0, fmt.Errorf("nft -j output: %w", err)
	}
	for _, item := range doc.Nftables {
		if item.Rule == nil || item.Rule.Comment != comment {
			continue
		}
		for _, e := range item.Rule.Expr {
			if raw, ok := e["counter"]; ok {
				var c struct{ Packets uint64 }
				if err := json.Unmarshal(raw, &c); err != nil {
					return 0, err
				}
				return c.Packets, nil
			}
		}
		return 0, fmt.Errorf("rule %q has no counter", comment)
	}
	return 0, fmt.Errorf("no rule with comment %q in %s", comment, n.Name)
}
