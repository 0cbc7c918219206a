package diagnose

import "github.com/netdx/netdx/report"

// The rules speak the contract's vocabulary: findings, evidence,
// severities, sources and layers are the report package's own types and
// values, named here without the package so that a rule reads as a
// judgement rather than as plumbing. Nothing else of report is aliased.
type (
	Finding    = report.Finding
	FindingRef = report.FindingRef
	Evidence   = report.Evidence
	Severity   = report.Severity
	Source     = report.Source
	Layer      = report.Layer
)

// Severities.
const (
	Info     = report.Info
	Warning  = report.Warning
	Critical = report.Critical
)

// Sources.
const (
	SourceHost    = report.SourceHost
	SourcePath    = report.SourcePath
	SourceCapture = report.SourceCapture
	SourceDrops   = report.SourceDrops
	SourceCross   = report.SourceCross
)

// Layers.
const (
	LayerNIC       = report.LayerNIC
	LayerDriver    = report.LayerDriver
	LayerSoftnet   = report.LayerSoftnet
	LayerQdisc     = report.LayerQdisc
	LayerIP        = report.LayerIP
	LayerTCP       = report.LayerTCP
	LayerUDP       = report.LayerUDP
	LayerSocket    = report.LayerSocket
	LayerConntrack = report.LayerConntrack
	LayerMPTCP     = report.LayerMPTCP
	LayerPath      = report.LayerPath
	LayerCapture   = report.LayerCapture
)

// Evidence constructors.
var (
	Num     = report.Num
	Counter = report.Counter
	Text    = report.Text
)
