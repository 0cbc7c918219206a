package report

import (
	"encoding/json"
	"testing"
	"time"
)

// TestSeverityJSON: severities travel by name, and a zero or unknown one
// is refused both ways (every finding must say how bad it is).
func TestSeverityJSON(t *testing.T) {
	for _, s := range Severities {
		b, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		var back Severity
		if err := json.Unmarshal(b, &back); err != nil || back != s {
			t.Errorf("%s: %s came back as %v (%v)", s, b, back, err)
		}
	}
	if _, err := json.Marshal(Severity(0)); err == nil {
		t.Error("severity 0 marshalled")
	}
	var s Severity
	if err := json.Unmarshal([]byte(`"fatal"`), &s); err == nil {
		t.Error(`"fatal" unmarshalled`)
	}
}

// TestNumbers: the JSON's numbers round one way everywhere.
func TestNumbers(t *testing.T) {
	for _, c := range []struct {
		got, want float64
	}{
		{Round(2.0005, 3), 2.001}, {Round(1.23456, 2), 1.23}, {Ratio(1, 4), 0.25}, {Ratio(5, 0), 0},
		{Millis(1500 * time.Microsecond), 1.5}, {Millis(1234567 * time.Nanosecond), 1.235},
	} {
		if c.got != c.want {
			t.Errorf("got %v, want %v", c.got, c.want)
		}
	}
}

// TestNewIsEmptyNotNull: a new report's lists are empty arrays in JSON,
// never null, as the schema requires.
func TestNewIsEmptyNotNull(t *testing.T) {
	b, err := json.Marshal(New("diag", Tool{Name: "netdx"}, Host{}, time.Unix(0, 0)))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"sources", "findings", "checks", "skipped", "warnings"} {
		if v, ok := m[k].([]any); !ok || len(v) != 0 {
			t.Errorf("%s = %v, want []", k, m[k])
		}
	}
}
