package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
)

// row is one line of the results table.
type row struct {
	ID       string  `json:"id"`
	Scenario string  `json:"scenario"`
	Pandav   string  `json:"pandav"`
	Direct   string  `json:"direct"`
	Proxy    string  `json:"minimal_proxy,omitempty"`
	Ratio    string  `json:"ratio"`
	Target   string  `json:"target"`
	Met      *bool   `json:"met,omitempty"` // nil: no target, or not measured
	PandavV  float64 `json:"pandav_value"`
	DirectV  float64 `json:"direct_value,omitempty"`
	ProxyV   float64 `json:"minimal_proxy_value,omitempty"`
	Unit     string  `json:"unit,omitempty"`
	Note     string  `json:"note,omitempty"`
}

func (r row) met() string {
	switch {
	case r.Met == nil:
		return "—"
	case *r.Met:
		return "yes"
	}
	return "**no**"
}

// report gathers rows, raw figures and errors as the scenarios run.
type report struct {
	mu     sync.Mutex
	Meta   map[string]any `json:"meta"`
	Rows   []row          `json:"rows"`
	Raw    map[string]any `json:"raw"`
	Errors []string       `json:"errors"`
}

func newReport() *report {
	return &report{Meta: map[string]any{}, Raw: map[string]any{}, Errors: []string{}}
}

func (r *report) add(x row) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Rows = append(r.Rows, x)
}

func (r *report) raw(key string, v any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Raw[key] = v
}

func (r *report) fail(scenario string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Errors = append(r.Errors, scenario+": "+err.Error())
}

func boolp(b bool) *bool { return &b }

// ratioRow compares a figure where higher is better (throughput).
func ratioRow(id, scenario string, p, d float64, unit string, target float64) row {
	x := row{ID: id, Scenario: scenario, PandavV: p, DirectV: d, Unit: unit,
		Pandav: fmt.Sprintf("%.0f %s", p, unit), Direct: fmt.Sprintf("%.0f %s", d, unit)}
	if d > 0 {
		ratio := p / d
		x.Ratio = fmt.Sprintf("%.2f", ratio)
		if target > 0 {
			x.Target = fmt.Sprintf("≥ %.2f", target)
			x.Met = boolp(ratio >= target)
		}
	}
	if x.Target == "" {
		x.Target = "—"
	}
	return x
}

// threeWayRow compares pandav with the minimal proxy (the ratio, and its
// target when above > 0 or below > 0) and shows direct beside them.
// above: higher is better, the ratio must be at least it; below: lower is
// better, the ratio must be at most it.
func threeWayRow(id, scenario string, d, x, p float64, format func(float64) string, unit string, above, below float64) row {
	r := row{ID: id, Scenario: scenario, PandavV: p, DirectV: d, ProxyV: x, Unit: unit,
		Pandav: format(p), Direct: format(d), Proxy: format(x), Target: "—"}
	if x > 0 {
		ratio := p / x
		r.Ratio = fmt.Sprintf("%.2f", ratio)
		switch {
		case above > 0:
			r.Target, r.Met = fmt.Sprintf("≥ %.2f × proxy", above), boolp(ratio >= above)
		case below > 0:
			r.Target, r.Met = fmt.Sprintf("≤ %.2f × proxy", below), boolp(ratio <= below)
		}
	}
	return r
}

// peakRow is a peak-RSS figure with an upper bound in MiB (0: none).
func peakRow(id, scenario string, hwm int64, limit float64, note string) row {
	v := float64(hwm) / (1 << 20)
	r := row{ID: id, Scenario: scenario, Pandav: fmtMiB(hwm), PandavV: v, Unit: "MiB", Target: "—", Note: note}
	if limit > 0 {
		r.Target, r.Met = fmt.Sprintf("< %.0f MiB", limit), boolp(v < limit)
	}
	return r
}

// latencyRow compares a latency (lower is better); the ratio is pandav's
// over direct's.
func latencyRow(id, scenario string, p, d float64) row {
	x := row{ID: id, Scenario: scenario, PandavV: p, DirectV: d, Unit: "ms",
		Pandav: fmtMS(p), Direct: fmtMS(d), Target: "—"}
	if d > 0 {
		x.Ratio = fmt.Sprintf("%.2f", p/d)
	}
	return x
}

func fmtMS(v float64) string {
	switch {
	case v < 10:
		return fmt.Sprintf("%.2f ms", v)
	case v < 100:
		return fmt.Sprintf("%.1f ms", v)
	}
	return fmt.Sprintf("%.0f ms", v)
}

func fmtMiB(b int64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }

func (r *report) markdown(header []string) string {
	var b strings.Builder
	b.WriteString("# pandav benchmark results\n\n")
	for _, h := range header {
		b.WriteString("- " + h + "\n")
	}
	b.WriteString("- ratio = pandav / minimal proxy where the row has a minimal proxy, else pandav / direct\n")
	b.WriteString("\n| scenario | direct | minimal proxy | pandav | ratio | target | met? |\n|---|---|---|---|---|---|---|\n")
	for _, x := range r.sorted() {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s |\n", cell(x.Scenario), dash(x.Direct), dash(x.Proxy), cell(x.Pandav), dash(x.Ratio), dash(x.Target), x.met())
	}
	var notes []string
	for _, x := range r.sorted() {
		if x.Note != "" {
			notes = append(notes, fmt.Sprintf("- %s: %s", x.Scenario, x.Note))
		}
	}
	if len(notes) > 0 {
		b.WriteString("\nNotes:\n\n" + strings.Join(notes, "\n") + "\n")
	}
	if len(r.Errors) > 0 {
		b.WriteString("\nErrors:\n\n")
		for _, e := range r.Errors {
			b.WriteString("- " + cell(e) + "\n")
		}
	}
	return b.String()
}

// sorted orders rows by scenario letter, keeping the run's order within
// one letter: the (f) memory rows are measured during (a) and (c).
func (r *report) sorted() []row {
	out := append([]row(nil), r.Rows...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].ID[0] < out[j].ID[0] })
	return out
}

func dash(s string) string {
	if s == "" {
		return "—"
	}
	return cell(s)
}

func cell(s string) string { return strings.ReplaceAll(strings.ReplaceAll(s, "|", "\\|"), "\n", " ") }

func writeFile(p string, data []byte) error {
	if p == "" {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	return os.WriteFile(p, data, 0o644)
}

func (r *report) json() ([]byte, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return json.MarshalIndent(r, "", "  ")
}
