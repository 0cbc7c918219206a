package report

// CatalogSchemaURL identifies the JSON document `netdx explain --json`
// prints, described by docs/schema/catalog.v1.json. It follows the same
// versioning rules as the report (docs/json.md).
const CatalogSchemaURL = "https://github.com/netdx/netdx/blob/main/docs/schema/catalog.v1.json"

// Catalog is the JSON form of catalog entries: `netdx explain --json`.
type Catalog struct {
	// Schema is the URL of the JSON Schema this document follows
	// (docs/schema/catalog.v1.json).
	Schema string `json:"$schema"`
	// SchemaVersion is MAJOR.MINOR, versioned like the report's (docs/json.md).
	SchemaVersion string `json:"schema_version"`
	// Tool identifies the netdx build that wrote the document.
	Tool Tool `json:"tool"`
	// Entries are the entries asked for, in catalog order (by layer, then ID).
	Entries []CatalogEntry `json:"entries"`
}

// CatalogEntry is one finding ID's documentation.
type CatalogEntry struct {
	// ID is the finding ID, layer.what; stable and never reused.
	ID string `json:"id"`
	// Title says what the finding is about in a line.
	Title string `json:"title"`
	// Source is the source whose data the rule judges; "cross" for
	// cross-source rules.
	Source Source `json:"source"`
	// Layer places the finding in the stack.
	Layer Layer `json:"layer"`
	// Severity is the usual severity; a finding may carry another when
	// its evidence says so.
	Severity Severity `json:"severity"`
	// Explanation says what the finding means and why it matters.
	Explanation string `json:"explanation"`
	// Thresholds says when the finding fires and where the numbers come
	// from.
	Thresholds string `json:"thresholds"`
	// Remediation is the general fix; each finding carries the exact
	// commands for the host it was found on.
	Remediation string `json:"remediation"`
	// Evidence names the values a finding of this ID carries.
	Evidence []string `json:"evidence"`
	// References are URLs, RFCs or kernel documentation paths.
	References []string `json:"references"`
}
