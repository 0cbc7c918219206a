package report

import "time"

// Schema identifiers carried by every JSON document. Adding a field bumps
// the minor version; renaming or removing one bumps the major version and
// adds a new schema file under docs/schema.
const (
	SchemaVersion = "1.0"
	SchemaURL     = "https://github.com/netdx/netdx/blob/main/docs/schema/report.v1.json"
)

// Report is the one document every command produces. Its types are the
// JSON contract and are kept apart from the engines' own types.
type Report struct {
	Schema        string `json:"$schema"`
	SchemaVersion string `json:"schema_version"`
	Tool          Tool   `json:"tool"`
	// Command is the command that produced the report: "diag", "trace",
	// "pcap analyze".
	Command     string    `json:"command"`
	Host        Host      `json:"host"`
	StartedAt   time.Time `json:"started_at"`
	EndedAt     time.Time `json:"ended_at"`
	Interrupted bool      `json:"interrupted"`
	Findings    []Finding `json:"findings"`
	Checks      []Check   `json:"checks"`
	Skipped     []Skip    `json:"skipped"`
	Warnings    []string  `json:"warnings"`

	Diag     *Diag     `json:"diag,omitempty"`
	Traces   []Trace   `json:"traces,omitempty"`
	Captures []Capture `json:"captures,omitempty"`
}

// Tool identifies the netdx build.
type Tool struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Commit  string `json:"commit,omitempty"`
}

// Host identifies where the report was made.
type Host struct {
	Hostname string `json:"hostname"`
	Kernel   string `json:"kernel"`
	// NetNS is the network namespace examined; empty for the caller's own.
	NetNS string `json:"netns,omitempty"`
}

// Skip is something netdx could not read, why, and how to let it.
type Skip struct {
	// Source names what was not read ("ethtool eth0 rings", "/proc/net/netstat").
	Source string `json:"source"`
	// Reason is "permission", "unsupported", "absent" or "error".
	Reason  string `json:"reason"`
	Message string `json:"message"`
	Fix     string `json:"fix,omitempty"`
}

// Skip reasons.
const (
	ReasonPermission  = "permission"
	ReasonUnsupported = "unsupported"
	ReasonAbsent      = "absent"
	ReasonError       = "error"
)

// New starts a report for command with the catalog-independent fields set.
func New(command string, tool Tool, host Host, started time.Time) *Report {
	return &Report{
		Schema:        SchemaURL,
		SchemaVersion: SchemaVersion,
		Tool:          tool,
		Command:       command,
		Host:          host,
		StartedAt:     started,
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
