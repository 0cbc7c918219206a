package netlab

import (
	"bytes"
	"fmt"
	"os/exec"
	"strings"
	"testing"
)

// RequireNft skips the test, saying why, when the nft command is missing.
func RequireNft(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("nft"); err != nil {
		t.Skip("skipped: the nft command is not installed (apt-get install nftables); the test drops packets with nftables")
	}
}

// Nft loads an nftables ruleset into the namespace, as `nft -f -` inside
// it would. The rules live and die with the namespace.
func (n *NS) Nft(ruleset string) error {
	cmd := exec.Command("nft", "-f", "-")
	cmd.Stdin = strings.NewReader(ruleset)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := n.Do(cmd.Run); err != nil {
		return fmt.Errorf("nft in %s: %v: %s", n.Name, err, bytes.TrimSpace(out.Bytes()))
	}
	return nil
}
