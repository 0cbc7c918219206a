package report

// SourceStatus is one line of the report's source summary: which host,
// path or capture was examined and how completely.
type SourceStatus struct {
	// Source is host, path or capture.
	Source Source `json:"source"`
	// Name says which one: the host's name, the traced HOST as given, the
	// capture file ("stdin" for -).
	Name string `json:"name"`
	// Status is "ok" (examined in full), "partial" (examined, but part
	// is missing: detail, skipped and warnings say what) or "failed"
	// (nothing could be examined: detail says why).
	Status string `json:"status"`
	// Detail says what was examined ("two samples 10s apart", "10 rounds,
	// destination reached at hop 5", "1215 packets, 3 flows") and what is
	// missing.
	Detail string `json:"detail,omitempty"`
}

// Source statuses; StatusOK is shared with the health table.
const (
	StatusPartial = "partial"
	StatusFailed  = "failed"
)

// SourceStatuses lists the values of SourceStatus.Status.
var SourceStatuses = []string{StatusOK, StatusPartial, StatusFailed}
