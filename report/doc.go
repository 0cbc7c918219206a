// Package report is netdx's contract: the one document every command
// produces (Report), its findings (Finding, Evidence, Severity, Source,
// Layer), the health table (Check), what could not be read (Skip), the
// sources examined (SourceStatus), the catalog's JSON form, and the JSON
// shapes of what diag, trace and pcap analyze measured (Diag, Trace,
// Capture), with their conversions from the engines' own types.
//
// The types are the JSON document users and CI gate on: docs/schema is
// generated from them and their doc comments, and within a major
// schema_version fields are only added. The package judges nothing (the
// rules are in diagnose) and presents nothing (render does); it rounds
// numbers one way (numbers.go) so a value reads the same everywhere.
package report
