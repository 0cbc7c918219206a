package report

import "time"

// Schema identifiers carried by every JSON document. Adding a field bumps
// the minor version; renaming or removing one bumps the major version and
// adds a new schema file under docs/schema.
const (
	SchemaVersion = "1.3"
	SchemaURL     = "https://github.com/netdx/netdx/blob/main/docs/schema/report.v1.json"
)

// Report is the one document every command produces. Its types are the
// JSON contract and are kept apart from the engines' own types.
type Report struct {
	// Schema is the URL of the JSON Schema this document follows
	// (docs/schema/report.v1.json).
	Schema string `json:"$schema"`
	// SchemaVersion is MAJOR.MINOR: minor versions only add fields; a new major
	// renames or removes them and comes with a new schema file (docs/json.md).
	SchemaVersion string `json:"schema_version"`
	// Tool identifies the netdx build that wrote the report.
	Tool Tool `json:"tool"`
	// Command is the command that produced the report: "diag", "trace",
	// "pcap analyze", "drops".
	Command string `json:"command"`
	// Host is the machine the report was made on, and for diag the one examined.
	Host Host `json:"host"`
	// StartedAt is when the command started (RFC 3339).
	StartedAt time.Time `json:"started_at"`
	// EndedAt is when the report was finished (RFC 3339).
	EndedAt time.Time `json:"ended_at"`
	// Interrupted is true when Ctrl-C, SIGTERM or --timeout stopped the run: the
	// report holds what was measured until then.
	Interrupted bool `json:"interrupted"`
	// Sources lists every host, path and capture the report examined and
	// how completely.
	Sources []SourceStatus `json:"sources"`
	// Findings are the diagnoses, most severe first and cross-source findings
	// first at equal severity; findings a cross-source finding subsumes come
	// last.
	Findings []Finding `json:"findings"`
	// Checks is the health table: every rule that ran, in layer order, with its
	// result.
	Checks []Check `json:"checks"`
	// Skipped lists what could not be read or run, why, and how to let netdx read
	// it.
	Skipped []Skip `json:"skipped"`
	// Warnings are caveats about the run as a whole (since-boot totals, a
	// fallback probe method, a capture cut short).
	Warnings []string `json:"warnings"`
	// Privileges says as whom and with which capabilities the run was made.
	Privileges *Privileges `json:"privileges,omitempty"`

	// Diag is what netdx diag read of the host; absent for other commands.
	Diag *Diag `json:"diag,omitempty"`
	// Traces are the traced paths: netdx trace's one, or diag's --trace ones;
	// absent when none.
	Traces []Trace `json:"traces,omitempty"`
	// Captures are the analysed capture files: pcap analyze's, or diag's --pcap
	// ones; absent when none.
	Captures []Capture `json:"captures,omitempty"`
	// Drops are the kernel's drop reasons over the window: netdx drops',
	// or diag's and serve's when privileged; absent when not sampled.
	Drops *Drops `json:"drops,omitempty"`
}

// Tool identifies the netdx build.
type Tool struct {
	// Name is "netdx".
	Name string `json:"name"`
	// Version is the release (v1.2.3), a git description, or "dev" for an
	// unversioned build.
	Version string `json:"version"`
	// Commit is the git revision the binary was built from, when known.
	Commit string `json:"commit,omitempty"`
}

// Host identifies where the report was made.
type Host struct {
	// Hostname is the machine's host name.
	Hostname string `json:"hostname"`
	// Kernel is the running kernel's release (uname -r).
	Kernel string `json:"kernel"`
	// NetNS is the network namespace examined; empty for the caller's own.
	NetNS string `json:"netns,omitempty"`
}

// Skip is something netdx could not read, why, and how to let it.
type Skip struct {
	// Source names what was not read ("ethtool eth0 rings", "/proc/net/netstat").
	Source string `json:"source"`
	// Reason is "permission", "unsupported", "absent" or "error".
	Reason string `json:"reason"`
	// Message says what went wrong, naming the file and line for malformed input.
	Message string `json:"message"`
	// Fix says how to let netdx read it (a capability, a mount, a flag).
	Fix string `json:"fix,omitempty"`
	// Capability is the capability that would let netdx read it
	// ("CAP_SYS_ADMIN"), for reason permission; several needed together
	// are joined by commas ("CAP_DAC_READ_SEARCH,CAP_SYS_PTRACE").
	Capability string `json:"capability,omitempty"`
}

// Skip reasons.
const (
	ReasonPermission  = "permission"
	ReasonUnsupported = "unsupported"
	ReasonAbsent      = "absent"
	ReasonError       = "error"
)

// SkipReasons lists the values of Skip.Reason.
var SkipReasons = []string{ReasonPermission, ReasonUnsupported, ReasonAbsent, ReasonError}

// Commands lists the commands that print a report, the values of
// Report.Command.
var Commands = []string{"diag", "trace", "pcap analyze", "drops"}

// New starts a report for command with the catalog-independent fields set.
func New(command string, tool Tool, host Host, started time.Time) *Report {
	return &Report{
		Schema:        SchemaURL,
		SchemaVersion: SchemaVersion,
		Tool:          tool,
		Command:       command,
		Host:          host,
		StartedAt:     started,
		Sources:       []SourceStatus{},
		Findings:      []Finding{},
		Checks:        []Check{},
		Skipped:       []Skip{},
		Warnings:      []string{},
	}
}

// MaxSeverity is the severity of the worst finding, or 0 when there is none.
func (r *Report) MaxSeverity() Severity {
	var m Severity
	for _, f := range r.Findings {
		m = max(m, f.Severity)
	}
	return m
}
