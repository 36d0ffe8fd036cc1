package wsconform

import (
	"fmt"
	"strings"
)

// Report is a run's results, in case order.
type Report struct {
	Endpoint string
	URL      string
	Results  []Result
}

// sectionNames are Autobahn's case categories, and the harness's own L.
var sectionNames = map[string]string{
	"1": "Framing", "2": "Pings/Pongs", "3": "Reserved Bits", "4": "Opcodes",
	"5": "Fragmentation", "6": "UTF-8 Handling", "7": "Close Handling",
	"9": "Limits/Performance", "10": "Misc",
	"12": "WebSocket Compression (different payloads)",
	"13": "WebSocket Compression (different parameters)",
	"L":  "Max message size (siogo's own)",
}

var verdicts = []Behavior{OK, NonStrict, Informational, Unimplemented, Failed}

// Failed lists the cases whose verdict is FAILED.
func (r *Report) Failed() []Result {
	var out []Result
	for _, x := range r.Results {
		if x.Verdict == Failed {
			out = append(out, x)
		}
	}
	return out
}

// Count returns how many cases of the section (its first id component, ""
// for all) had the verdict.
func (r *Report) Count(section string, v Behavior) int {
	n := 0
	for _, x := range r.Results {
		if (section == "" || sectionOf(x.ID) == section) && x.Verdict == v {
			n++
		}
	}
	return n
}

func sectionOf(id string) string {
	s, _, _ := strings.Cut(id, ".")
	return s
}

// Table is the count of each verdict per section, as a text table.
func (r *Report) Table() string {
	var b strings.Builder
	row := func(s, name string, cells []string) {
		fmt.Fprintf(&b, "%-4s %-46s", s, name)
		for _, c := range cells {
			fmt.Fprintf(&b, " %10s", c)
		}
		b.WriteByte('\n')
	}
	head := make([]string, len(verdicts))
	for i, v := range verdicts {
		head[i] = string(v)
	}
	row("", "section", head)
	count := func(s string) []string {
		cells := make([]string, len(verdicts))
		for i, v := range verdicts {
			cells[i] = fmt.Sprint(r.Count(s, v))
		}
		return cells
	}
	var seen []string
	for _, x := range r.Results {
		if s := sectionOf(x.ID); len(seen) == 0 || seen[len(seen)-1] != s {
			seen = append(seen, s)
		}
	}
	for _, s := range seen {
		row(s, sectionNames[s], count(s))
	}
	row("", "all", count(""))
	return b.String()
}

// Lines describes every case that did not pass cleanly (verdict other
// than OK), one line each.
func (r *Report) Lines() []string {
	var out []string
	for _, x := range r.Results {
		if x.Verdict != OK {
			out = append(out, fmt.Sprintf("%s %s: %s", x.ID, x.Verdict, x.summary()))
		}
	}
	return out
}
