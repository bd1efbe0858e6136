package cli

import (
	"fmt"
	"io"
	"math"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"k8s.io/apimachinery/pkg/util/duration"

	"github.com/vireo-dev/vireo/internal/rolloutview"
)

// style colours text, or leaves it plain.
type style struct{ color bool }

const (
	green  = "32"
	yellow = "33"
	red    = "31"
	blue   = "34"
	grey   = "90"
)

func (s style) paint(code, text string) string {
	if !s.color || text == "" {
		return text
	}
	return "\x1b[" + code + "m" + text + "\x1b[0m"
}

// measuring is the status of an analysis run or metric: one that is
// Running is still measuring, not done.
func (s style) measuring(word string) string {
	if word == "Running" {
		return s.paint(blue, "◌ Running")
	}
	return s.status(word)
}

// status is a status word with its symbol and colour: readable without colour.
func (s style) status(word string) string {
	var sym, code string
	switch word {
	case "Healthy", "Successful", "Running", "Completed", "Succeeded", "Initialized":
		sym, code = "✔", green
	case "Paused", "Waiting", "WaitingPromotion":
		sym, code = "॥", yellow
	case "Progressing", "Pending", "ContainerCreating", "Initializing", "Promoting", "Finalising":
		sym, code = "◌", blue
	case "Degraded", "Failed", "Error", "CrashLoopBackOff":
		sym, code = "✖", red
	case "Inconclusive":
		sym, code = "⚠", yellow
	case "ScaledDown", "Terminating", "Terminated":
		sym, code = "•", grey
	default:
		sym, code = "?", grey
	}
	return s.paint(code, sym+" "+word)
}

var ansi = regexp.MustCompile("\x1b\\[[0-9;]*m")

// width is the number of columns text takes on a terminal.
func width(text string) int {
	return utf8.RuneCountInString(ansi.ReplaceAllString(text, ""))
}

func pad(text string, n int) string {
	if w := width(text); w < n {
		return text + strings.Repeat(" ", n-w)
	}
	return text
}

// age is how long ago t was, as kubectl prints it.
func age(now, t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return duration.HumanDuration(now.Sub(t))
}

// row is one line of the tree: the indentation and name, then the columns.
type row struct {
	tree, kind, status, age, info string
}

// WriteRollout draws a rollout: a summary, then the tree of its revisions,
// ReplicaSets, pods and analysis runs.
func WriteRollout(w io.Writer, v rolloutview.Rollout, now time.Time, color bool) error {
	s := style{color}
	var b strings.Builder
	field := func(name, value string) {
		if name != "" {
			name += ":"
		}
		fmt.Fprintf(&b, "%-15s %s\n", name, value)
	}
	field("Name", v.Name)
	field("Namespace", v.Namespace)
	field("Status", s.status(v.Status))
	if v.Message != "" {
		field("Message", v.Message)
	}
	field("Strategy", v.Strategy)
	if v.Steps > 0 {
		field("  Step", fmt.Sprintf("%d/%d", v.Step, v.Steps))
	}
	if v.SetWeight != nil {
		field("  SetWeight", fmt.Sprint(*v.SetWeight))
	}
	if v.ActualWeight != nil {
		field("  ActualWeight", fmt.Sprint(*v.ActualWeight))
	}
	for i, img := range v.Images {
		name := ""
		if i == 0 {
			name = "Images"
		}
		roles := ""
		if len(img.Roles) > 0 {
			roles = " (" + s.paint(roleColor(img.Roles), strings.Join(img.Roles, ", ")) + ")"
		}
		field(name, img.Image+roles)
	}
	b.WriteString("Replicas:\n")
	field("  Desired", fmt.Sprint(v.Replicas.Desired))
	field("  Current", fmt.Sprint(v.Replicas.Current))
	field("  Updated", fmt.Sprint(v.Replicas.Updated))
	field("  Ready", fmt.Sprint(v.Replicas.Ready))
	field("  Available", fmt.Sprint(v.Replicas.Available))
	b.WriteString("\n")

	rows := []row{{tree: "⟳ " + v.Name, kind: "Rollout", status: s.status(v.Status), age: age(now, v.Created)}}
	for i, rev := range v.Revisions {
		last := i == len(v.Revisions)-1
		branch, stem := "├──", "│  "
		if last {
			branch, stem = "└──", "   "
		}
		rows = append(rows, row{tree: branch + s.paint(grey, fmt.Sprintf("# revision:%d", rev.Number))})
		n := len(rev.ReplicaSets) + len(rev.AnalysisRuns)
		k := 0
		child := func() (string, string) {
			k++
			if k == n {
				return stem + "└──", stem + "   "
			}
			return stem + "├──", stem + "│  "
		}
		for _, rs := range rev.ReplicaSets {
			br, st := child()
			rows = append(rows, row{tree: br + "⧉ " + rs.Name, kind: "ReplicaSet", status: s.status(rs.Status), age: age(now, rs.Created),
				info: s.paint(roleColor(rs.Roles), strings.Join(rs.Roles, ","))})
			for j, p := range rs.Pods {
				pb := "├──"
				if j == len(rs.Pods)-1 {
					pb = "└──"
				}
				info := "ready:" + p.Ready
				if p.Restarts > 0 {
					info += fmt.Sprintf(",restarts:%d", p.Restarts)
				}
				rows = append(rows, row{tree: st + pb + "□ " + p.Name, kind: "Pod", status: s.status(p.Status), age: age(now, p.Created), info: info})
			}
		}
		for _, run := range rev.AnalysisRuns {
			br, st := child()
			info := []string{}
			if run.Kind != "" {
				info = append(info, strings.ToLower(run.Kind))
			}
			for _, c := range []struct {
				sym, code string
				n         int32
			}{{"✔", green, run.Summary.Successful}, {"✖", red, run.Summary.Failed}, {"⚠", yellow, run.Summary.Inconclusive}, {"!", red, run.Summary.Error}} {
				if c.n > 0 {
					info = append(info, s.paint(c.code, fmt.Sprintf("%s %d", c.sym, c.n)))
				}
			}
			rows = append(rows, row{tree: br + "α " + run.Name, kind: "AnalysisRun", status: s.measuring(run.Status), age: age(now, run.Created), info: strings.Join(info, " ")})
			for j, m := range run.Metrics {
				mb := "├──"
				if j == len(run.Metrics)-1 {
					mb = "└──"
				}
				info := recent(m.Measurements, 5)
				if j := judgeInfo(m.Measurements); j != "" {
					info = j
				}
				rows = append(rows, row{tree: st + mb + "◇ " + m.Name, kind: "Metric", status: s.measuring(m.Status), info: info})
			}
		}
	}
	cols := [4]int{len("NAME"), len("KIND"), len("STATUS"), len("AGE")}
	for _, r := range rows {
		for i, c := range []string{r.tree, r.kind, r.status, r.age} {
			cols[i] = max(cols[i], width(c))
		}
	}
	line := func(a, k, st, ag, info string) {
		b.WriteString(strings.TrimRight(pad(a, cols[0])+"  "+pad(k, cols[1])+"  "+pad(st, cols[2])+"  "+pad(ag, cols[3])+"  "+info, " ") + "\n")
	}
	line("NAME", "KIND", "STATUS", "AGE", "INFO")
	for _, r := range rows {
		line(r.tree, r.kind, r.status, r.age, r.info)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func roleColor(roles []string) string {
	for _, r := range roles {
		switch r {
		case "canary", "preview":
			return yellow
		case "stable", "active":
			return green
		}
	}
	return grey
}

// recent lists the last n measured values, oldest first.
func recent(ms []rolloutview.Measurement, n int) string {
	var out []string
	for _, m := range ms[max(0, len(ms)-n):] {
		v := m.Value
		if v == "" {
			v = strings.ToLower(m.Status)
		}
		out = append(out, v)
	}
	return strings.Join(out, " ")
}

// sparks are the levels of a sparkline, lowest first.
var sparks = []rune("▁▂▃▄▅▆▇█")

// judgeInfo charts the canary judge's test for a metric's measurements: a
// sparkline of the e-value on a log scale from 1 to where it fails, then
// the latest e-value and the confidence interval on the canary/stable
// ratio against the tolerated ratio. "" when the metric is not the judge's.
func judgeInfo(ms []rolloutview.Measurement) string {
	var last *rolloutview.JudgeReading
	var line []rune
	for _, m := range ms {
		j := m.Judge
		if j == nil {
			continue
		}
		last = j
		level := 0.0
		if j.FailsAt > 1 && j.EValue > 1 {
			level = min(1, math.Log(j.EValue)/math.Log(j.FailsAt))
		}
		line = append(line, sparks[int(math.Round(level*float64(len(sparks)-1)))])
	}
	if last == nil {
		return ""
	}
	high := "∞"
	if last.High != nil {
		high = fmt.Sprintf("%.3g", *last.High)
	}
	out := fmt.Sprintf("e %s %.3g/%.3g ratio [%.3g, %s] tolerated ≤%.3g", string(line), last.EValue, last.FailsAt, last.Low, high, last.Tolerated)
	if last.Boundary != "" {
		out += " (slower than " + last.Boundary + "s)"
	}
	return out
}
