// Package release tests the install paths README promises: `make release`
// (static binaries for linux/amd64 and linux/arm64 with version and commit
// stamped) and `make image` (a FROM scratch image that runs netdx serve, the
// one docs/deploy/kubernetes.yaml names). The tests build for real, so
// -short skips them.
package release

import (
	"bufio"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

const (
	repo        = "../.."
	testVersion = "v9.9.9-releasetest"
	testCommit  = "0123456789abcdef0123456789abcdef01234567"
)

// makeRelease runs `make release` into dir/dist for archs and returns the
// dist directory.
func makeRelease(t *testing.T, dir string, archs ...string) string {
	t.Helper()
	if testing.Short() {
		t.Skip("skipped in -short: builds release binaries")
	}
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("skipped: make is not installed (apt-get install make)")
	}
	dist := filepath.Join(dir, "dist")
	cmd := exec.Command("make", "-s", "release", "DIST="+dist, "VERSION="+testVersion, "COMMIT="+testCommit,
		"RELEASE_ARCHS="+strings.Join(archs, " "))
	cmd.Dir = repo
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make release: %v\n%s", err, out)
	}
	return dist
}

var elfMachine = map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}

// TestReleaseBinaries checks what `make release` promises: one binary per
// architecture, for that machine, statically linked (no interpreter, no
// shared libraries), stamped with the version and commit, and listed in
// SHA256SUMS with its real digest.
func TestReleaseBinaries(t *testing.T) {
	archs := []string{"amd64", "arm64"}
	dist := makeRelease(t, t.TempDir(), archs...)
	sums := readSums(t, filepath.Join(dist, "SHA256SUMS"))
	for _, arch := range archs {
		name := "netdx-linux-" + arch
		path := filepath.Join(dist, name)
		f, err := elf.Open(path)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if f.Machine != elfMachine[arch] {
			t.Errorf("%s: machine %v, want %v", name, f.Machine, elfMachine[arch])
		}
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP {
				t.Errorf("%s: has an ELF interpreter: it is not static", name)
			}
		}
		if libs, err := f.ImportedLibraries(); err == nil && len(libs) > 0 {
			t.Errorf("%s: links shared libraries %v", name, libs)
		}
		f.Close()
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(b)
		if got := sums[name]; got != hex.EncodeToString(sum[:]) {
			t.Errorf("SHA256SUMS lists %s as %q, the file's digest is %x", name, got, sum)
		}
		if arch != runtime.GOARCH {
			continue
		}
		out, err := exec.Command(path, "--version").CombinedOutput()
		if err != nil {
			t.Fatalf("%s --version: %v\n%s", name, err, out)
		}
		for _, want := range []string{"netdx " + testVersion, "commit " + testCommit} {
			if !strings.Contains(string(out), want) {
				t.Errorf("%s --version does not say %q:\n%s", name, want, out)
			}
		}
	}
}

func readSums(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sums := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if sum, name, ok := strings.Cut(sc.Text(), "  "); ok {
			sums[name] = sum
		}
	}
	return sums
}

// makefileImage is the image name `make image` tags (IMAGE ?= ...).
func makefileImage(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repo, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "IMAGE ?= "); ok {
			return strings.TrimSpace(v)
		}
	}
	t.Fatal("Makefile sets no IMAGE")
	return ""
}

// TestKubernetesRunsTheImage ties the DaemonSet to the image `make image`
// builds: same repository, and the arguments it passes start serve.
func TestKubernetesRunsTheImage(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repo, "docs", "deploy", "kubernetes.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	want := makefileImage(t)
	var images []string
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "image: "); ok {
			images = append(images, v)
		}
	}
	if len(images) != 1 || !strings.HasPrefix(images[0], want+":") {
		t.Fatalf("kubernetes.yaml runs images %v, want one tag of %s (the Makefile's IMAGE)", images, want)
	}
}

// buildah runs buildah with storage of its own under dir, so the test
// neither needs nor touches the machine's image store.
func buildah(t *testing.T, dir string, args ...string) string {
	t.Helper()
	full := append([]string{"--root", filepath.Join(dir, "root"), "--runroot", filepath.Join(dir, "run"),
		"--storage-driver", "vfs"}, args...)
	out, err := exec.Command("buildah", full...).CombinedOutput()
	if err != nil {
		t.Fatalf("buildah %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// TestImage builds the image with `make image` and buildah, then checks it
// the way a cluster would use it: nothing in it but the binary, the
// entrypoint and default command start serve, and run in a container the
// binary answers --version and serves /metrics.
func TestImage(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped in -short: builds a container image")
	}
	for _, tool := range []string{"buildah", "runc"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("skipped: %s is not installed; the image test needs Debian's buildah and runc (apt-get install buildah runc)", tool)
		}
	}
	if os.Geteuid() != 0 {
		t.Skip("skipped: buildah needs root here (rootless buildah needs subuid ranges this machine may not have); run `sudo make test`")
	}
	if runtime.GOARCH != "amd64" {
		t.Skipf("skipped: the image test runs the amd64 image and this is %s", runtime.GOARCH)
	}
	dir := t.TempDir()
	store := filepath.Join(dir, "store")
	name := fmt.Sprintf("localhost/netdx-test-%d", os.Getpid())
	cmd := exec.Command("make", "-s", "image", "DIST="+filepath.Join(dir, "ctx", "dist"),
		"VERSION="+testVersion, "COMMIT="+testCommit, "IMAGE="+name,
		"BUILDAH=buildah --root "+filepath.Join(store, "root")+" --runroot "+filepath.Join(store, "run")+" --storage-driver vfs")
	cmd.Dir = repo
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make image: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		exec.Command("buildah", "--root", filepath.Join(store, "root"), "--runroot", filepath.Join(store, "run"),
			"--storage-driver", "vfs", "rm", "--all").Run()
	})

	var img struct {
		OCIv1 struct {
			Config struct {
				Entrypoint   []string
				Cmd          []string
				ExposedPorts map[string]struct{}
			} `json:"config"`
			RootFS struct {
				DiffIDs []string `json:"diff_ids"`
			} `json:"rootfs"`
		}
	}
	if err := json.Unmarshal([]byte(buildah(t, store, "inspect", "--type", "image", name+":"+testVersion)), &img); err != nil {
		t.Fatal(err)
	}
	c := img.OCIv1.Config
	if strings.Join(c.Entrypoint, " ") != "/netdx" || len(c.Cmd) == 0 || c.Cmd[0] != "serve" {
		t.Errorf("image runs %v %v, want /netdx serve ...", c.Entrypoint, c.Cmd)
	}
	if _, ok := c.ExposedPorts["9469/tcp"]; !ok {
		t.Errorf("image exposes %v, want 9469/tcp", c.ExposedPorts)
	}
	if n := len(img.OCIv1.RootFS.DiffIDs); n != 1 {
		t.Errorf("image has %d layers, want 1 (FROM scratch plus the binary)", n)
	}

	ctr := buildah(t, store, "from", name+":"+testVersion)
	if out := buildah(t, store, "run", ctr, "--", "/netdx", "--version"); !strings.Contains(out, testVersion) {
		t.Errorf("netdx --version in the image: %q, want %s", out, testVersion)
	}

	// serve on a free loopback port, in the host's network namespace as
	// the DaemonSet runs it.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	serve := exec.Command("buildah", "--root", filepath.Join(store, "root"), "--runroot", filepath.Join(store, "run"),
		"--storage-driver", "vfs", "run", "--network", "host", ctr, "--", "/netdx", "serve", "--listen="+addr, "--interval=1s")
	var serveOut strings.Builder
	serve.Stdout, serve.Stderr = &serveOut, &serveOut
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		serve.Process.Kill()
		serve.Wait()
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err == nil {
			body := new(strings.Builder)
			_, _ = io.Copy(body, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && strings.Contains(body.String(), "netdx_build_info") {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("netdx serve in the image did not serve /metrics with netdx_build_info on %s within 30s (last error %v); its output:\n%s", addr, err, serveOut.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
}
