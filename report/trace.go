package report

// Trace is the JSON form of one traced path.
// Owned by the trace work; filled in there.
type Trace struct{}
