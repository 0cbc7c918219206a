// Package diagnose judges. Run takes a Plan (the host sampled over a
// window, paths to trace, captures to analyse), reads every source, runs
// every rule whose source is present and returns the report.
//
// A rule is one declaration (register in its file's init): its name,
// source and layer, the catalog entries of the findings it may produce,
// and its check, which reads the numbers, grades them into a severity
// (grade) and then writes the finding's words. Cross-source rules run
// last with the per-source findings (Found). The catalog entries feed
// `netdx explain`, docs/findings.md and the shipped Prometheus alerts.
// Rules live one file per area: host_*.go, path_*.go, capture_*.go,
// mptcp_*.go, cross_*.go; docs/adding-a-finding.md shows how to add one.
package diagnose
