package cli

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const deployDir = "../../docs/deploy"

// deployArgs returns the netdx command lines the deployment examples
// ship: the systemd unit's ExecStart and the DaemonSet's args.
func deployArgs(t *testing.T) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	unit, err := os.ReadFile(filepath.Join(deployDir, "netdx.service"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(unit), "\n") {
		if cmd, ok := strings.CutPrefix(line, "ExecStart="); ok {
			out["netdx.service"] = strings.Fields(cmd)[1:]
		}
	}
	k8s, err := os.ReadFile(filepath.Join(deployDir, "kubernetes.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	inArgs := false
	for _, line := range strings.Split(string(k8s), "\n") {
		trimmed := strings.TrimSpace(line)
		switch {
		case trimmed == "args:":
			inArgs = true
		case inArgs && strings.HasPrefix(trimmed, "- "):
			out["kubernetes.yaml"] = append(out["kubernetes.yaml"], strings.TrimPrefix(trimmed, "- "))
		case inArgs && !strings.HasPrefix(trimmed, "#"):
			inArgs = false
		}
	}
	if len(out) != 2 {
		t.Fatalf("command lines not found in %s: %v", deployDir, out)
	}
	return out
}

// TestDeployCommandLines runs the command lines the deployment examples
// ship, on loopback and this host's /proc and /sys, for a moment: their
// flags must be valid and serve must start and stop cleanly.
func TestDeployCommandLines(t *testing.T) {
	for name, args := range deployArgs(t) {
		var run []string
		for _, a := range args {
			switch {
			case a == "--listen" || a == ":9469":
				continue
			case strings.HasPrefix(a, "--listen="):
				continue
			}
			a = strings.ReplaceAll(a, "/host/proc", "/proc")
			a = strings.ReplaceAll(a, "/host/sys", "/sys")
			run = append(run, a)
		}
		run = append(run, "--listen", "127.0.0.1:0", "--timeout", "300ms")
		a, _, errb := testApp()
		if code := runArgs(a, run...); code != exitOK {
			t.Errorf("%s: netdx %s: exit %d: %s", name, strings.Join(run, " "), code, errb)
		}
	}
}

// TestSystemdUnitVerifies runs systemd-analyze verify on the shipped unit,
// with ExecStart pointing at a netdx binary built here.
func TestSystemdUnitVerifies(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not installed")
	}
	unit, err := os.ReadFile(filepath.Join(deployDir, "netdx.service"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "netdx.service")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(string(unit), "/usr/local/bin/netdx", exe)), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(analyze, "verify", path).CombinedOutput(); err != nil {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}
