package report

// Check is one row of the health table: what was checked and its result.
type Check struct {
	// Source is the view the rule judges.
	Source Source `json:"source"`
	// Layer is where in the stack the rule looks.
	Layer Layer `json:"layer"`
	// Name says what is checked ("listen accept queues").
	Name string `json:"name"`
	// Status is "ok", "finding" or "not_checked".
	Status string `json:"status"`
	// Detail summarises what was seen: the numbers when ok, the count of
	// findings, or why the rule could not judge.
	Detail string `json:"detail,omitempty"`
}

// Check statuses.
const (
	StatusOK         = "ok"
	StatusFinding    = "finding"
	StatusNotChecked = "not_checked"
)

// CheckStatuses lists the values of Check.Status.
var CheckStatuses = []string{StatusOK, StatusFinding, StatusNotChecked}
