package report

// Capture is the JSON form of one analysed capture.
// Owned by the capture work; filled in there.
type Capture struct{}
