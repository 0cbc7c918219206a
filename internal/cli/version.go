package cli

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/netdx/netdx/report"
)

// version and commit are set at build time:
//
//	go build -ldflags "-X github.com/netdx/netdx/internal/cli.version=v1.2.3 -X github.com/netdx/netdx/internal/cli.commit=$(git rev-parse HEAD)"
//
// `make build` does it. Without them the module version and the VCS
// revision Go records stand in.
var (
	version = "dev"
	commit  = ""
)

// build is what --version and the report's tool section say about this
// binary.
type build struct {
	version, commit, vcsTime, goVersion string
	modified                            bool
}

func readBuild() build {
	b := build{version: version, commit: commit, goVersion: runtime.Version()}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return b
	}
	if b.version == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		b.version = bi.Main.Version
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			if b.commit == "" {
				b.commit = s.Value
			}
		case "vcs.time":
			b.vcsTime = s.Value
		case "vcs.modified":
			b.modified = s.Value == "true"
		}
	}
	return b
}

// versionText is --version's output:
//
//	netdx v1.2.3
//	commit 0123abcd… (2026-03-04T05:06:07Z, modified)
//	go1.26.8 linux/amd64
func versionText() string {
	b := readBuild()
	lines := []string{"netdx " + b.version}
	if b.commit != "" {
		c := "commit " + b.commit
		var extra []string
		if b.vcsTime != "" {
			extra = append(extra, b.vcsTime)
		}
		if b.modified {
			extra = append(extra, "modified")
		}
		if len(extra) > 0 {
			c += " (" + strings.Join(extra, ", ") + ")"
		}
		lines = append(lines, c)
	}
	lines = append(lines, fmt.Sprintf("%s %s/%s", b.goVersion, runtime.GOOS, runtime.GOARCH))
	return strings.Join(lines, "\n")
}

// tool identifies this build in reports.
func (a *app) tool() report.Tool {
	b := readBuild()
	return report.Tool{Name: "netdx", Version: b.version, Commit: b.commit}
}
