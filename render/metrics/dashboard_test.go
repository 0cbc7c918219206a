package metrics

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

var metricName = regexp.MustCompile(`\bnetdx_[a-z0-9_]+\b`)

// dashboardQueries reads the generated dashboard back: every panel's
// PromQL and every variable's query.
func dashboardQueries(t *testing.T) (exprs, variables []string) {
	t.Helper()
	b, err := Dashboard()
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
		Templating struct {
			List []struct {
				Name, Type string
				Query      json.RawMessage
			}
		}
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("dashboard is not JSON: %v", err)
	}
	for _, p := range d.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			exprs = append(exprs, tg.Expr)
		}
	}
	for _, v := range d.Templating.List {
		var q struct{ Query string }
		if v.Type == "query" {
			if err := json.Unmarshal(v.Query, &q); err != nil || q.Query == "" {
				t.Fatalf("variable %s: query %s (%v)", v.Name, v.Query, err)
			}
			variables = append(variables, q.Query)
		}
	}
	return exprs, variables
}

// TestDashboardMetrics: every query of the Grafana dashboard reads at
// least one metric, and only metrics netdx exports.
func TestDashboardMetrics(t *testing.T) {
	exported := map[string]bool{}
	for _, d := range Defs() {
		exported[d.Name] = true
	}
	exprs, variables := dashboardQueries(t)
	for _, q := range append(exprs, variables...) {
		names := metricName.FindAllString(q, -1)
		if len(names) == 0 {
			t.Errorf("query reads no netdx metric: %s", q)
		}
		for _, n := range names {
			if !exported[n] {
				t.Errorf("query reads %s, which netdx does not export: %s", n, q)
			}
		}
	}
	for _, want := range []string{mDrops.Name, mFindings.Name, mHopLoss.Name, mHopRTTP50.Name, mNICDrops.Name} {
		if !strings.Contains(strings.Join(exprs, "\n"), want) {
			t.Errorf("no panel reads %s", want)
		}
	}
}

// grafanaVars replaces the dashboard's Grafana variables with values
// PromQL accepts, as Grafana does before it sends a query.
var grafanaVars = strings.NewReplacer("$__rate_interval", "5m", "$instance", ".*", "$target", ".*")

// TestDashboardPromtool: every panel's expression parses, checked by
// promtool as recording rules.
func TestDashboardPromtool(t *testing.T) {
	tool := promtool(t)
	exprs, _ := dashboardQueries(t)
	var b strings.Builder
	b.WriteString("groups:\n- name: dashboard\n  rules:\n")
	for i, e := range exprs {
		b.WriteString("  - record: netdx:dashboard_query_" + strconv.Itoa(i) + "\n    expr: " + strconv.Quote(grafanaVars.Replace(e)) + "\n")
	}
	file := filepath.Join(t.TempDir(), "dashboard.yml")
	if err := os.WriteFile(file, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(tool, "check", "rules", file).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check rules: %v\n%s\n%s", err, out, b.String())
	}
	if !strings.Contains(string(out), "SUCCESS: "+strconv.Itoa(len(exprs))+" rules found") {
		t.Fatalf("promtool did not check all %d expressions:\n%s", len(exprs), out)
	}
}
