package supervise

import (
	"context"
	"encoding/base64"
	"fmt"
	"html/template"
	"io"
	"slices"
	"strings"
	"time"
)

// Report is what a session's report holds: the HTML and the PDF show the
// same things.
type Report struct {
	Session      Session
	SiteName     string
	From, To     time.Time
	Participants []Participant
	Attendance   Attendance
	Remarks      []ReportRemark
	Notices      []Notice
	// Trends are the session's cameras and zones during it, beside the
	// same hours a week before, where anything was counted.
	Trends    []TrendLine
	Generated time.Time
	loc       *time.Location
}

// TrendLine is one camera's or zone's count at each step of a session
// (Values), beside the same hours a week before (Before).
type TrendLine struct {
	Key    string
	Metric string // entries or peak
	Step   time.Duration
	Times  []time.Time
	Values []float64
	Before []float64
}

// TrendRecords, when a report's records have them, give the trends of the
// session's cameras.
type TrendRecords interface {
	SessionTrends(ctx context.Context, x Session, from, to time.Time) ([]TrendLine, error)
}

// Participant is one person of a session: invited, in the room, or who
// left remarks.
type Participant struct {
	Name    string
	Invited bool
	Joined  bool
	Remarks int
}

// ReportRemark is a remark with its snapshot.
type ReportRemark struct {
	Remark
	Snapshot []byte
}

// maxReportSnapshots bounds the pictures in one report.
const maxReportSnapshots = 200

// Records are what a report is made of (the store, and the history of
// notifications, implement them).
type Records interface {
	Counter
	Remarks(ctx context.Context, session string) ([]Remark, error)
	RemarkSnapshot(ctx context.Context, session string, id int64) ([]byte, error)
	// Joined are who joined the session's room (the audit log says).
	Joined(ctx context.Context, session string) ([]string, error)
	// Notices are the notifications about the session, oldest first.
	Notices(ctx context.Context, s Session) ([]Notice, error)
}

// Notice is a notification about a session: it went live, a camera
// dropped or came back, it ended.
type Notice struct {
	Time    time.Time
	Kind    string
	Message *string
}

// NewReport gathers x's report at now; siteName names its site.
func NewReport(ctx context.Context, src Records, x Session, siteName string, now time.Time) (*Report, error) {
	att, err := AttendanceOf(ctx, src, x, 0, now)
	if err != nil {
		return nil, err
	}
	// The report covers what the curve does: the session so far.
	rp := &Report{Session: x, SiteName: x.Site, From: att.From, To: att.To, Attendance: att, Generated: now.UTC(), loc: time.Local}
	if siteName != "" {
		rp.SiteName = siteName
	}
	rem, err := src.Remarks(ctx, x.ID)
	if err != nil {
		return nil, err
	}
	people := map[string]*Participant{}
	person := func(n string) *Participant {
		if people[n] == nil {
			people[n] = &Participant{Name: n}
		}
		return people[n]
	}
	for _, n := range x.Invited {
		person(n).Invited = true
	}
	shots := 0
	for _, r := range rem {
		rr := ReportRemark{Remark: r}
		if r.HasSnapshot && shots < maxReportSnapshots {
			if rr.Snapshot, err = src.RemarkSnapshot(ctx, x.ID, r.ID); err != nil {
				return nil, err
			}
			shots++
		}
		rp.Remarks = append(rp.Remarks, rr)
		person(r.Author).Remarks++
	}
	joined, err := src.Joined(ctx, x.ID)
	if err != nil {
		return nil, err
	}
	for _, n := range joined {
		person(n).Joined = true
	}
	for _, p := range people {
		rp.Participants = append(rp.Participants, *p)
	}
	slices.SortFunc(rp.Participants, func(a, b Participant) int { return strings.Compare(a.Name, b.Name) })
	if rp.Notices, err = src.Notices(ctx, x); err != nil {
		return nil, err
	}
	if tr, ok := src.(TrendRecords); ok && rp.To.After(rp.From) {
		if rp.Trends, err = tr.SessionTrends(ctx, x, rp.From, rp.To); err != nil {
			return nil, err
		}
	}
	return rp, nil
}

// Clock and Date are how the report prints times (in the server's zone).
func (rp *Report) Clock(t time.Time) string { return t.In(rp.loc).Format("15:04:05") }
func (rp *Report) Date(t time.Time) string  { return t.In(rp.loc).Format("2006-01-02 15:04 MST") }

// Offset is t from the session's start, as the recording's timeline shows
// it.
func (rp *Report) Offset(t time.Time) string {
	d := t.Sub(rp.From).Round(time.Second)
	if d < 0 {
		return "-" + (-d).String()
	}
	return "+" + fmtDuration(d)
}

func fmtDuration(d time.Duration) string {
	h, m, sec := int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60
	if h > 0 {
		return fmt.Sprintf("%d:%02d:%02d", h, m, sec)
	}
	return fmt.Sprintf("%d:%02d", m, sec)
}

// frac is where t falls in the report's span, 0 to 1.
func (rp *Report) frac(t time.Time) float64 {
	span := rp.To.Sub(rp.From).Seconds()
	if span <= 0 {
		return 0
	}
	return min(1, max(0, t.Sub(rp.From).Seconds()/span))
}

// ticks are the chart's five time labels, start to end.
func (rp *Report) ticks() []time.Time {
	out := make([]time.Time, 5)
	for i := range out {
		out[i] = rp.From.Add(time.Duration(float64(rp.To.Sub(rp.From)) * float64(i) / 4))
	}
	return out
}

// chart is the attendance curve as a step line in a w×h box: the points
// (x, y) of its polyline and the y axis's top value.
func (rp *Report) chart(w, h float64) (pts [][2]float64, top int) {
	a := rp.Attendance
	top = max(a.Peak, 1)
	if !rp.To.After(rp.From) || len(a.Points) == 0 {
		return nil, top
	}
	x := func(t time.Time) float64 { return rp.frac(t) * w }
	y := func(n int) float64 { return h - float64(n)/float64(top)*h }
	for i, p := range a.Points {
		end := rp.To
		if i+1 < len(a.Points) {
			end = a.Points[i+1].Time
		}
		pts = append(pts, [2]float64{x(p.Time), y(p.People)}, [2]float64{x(end), y(p.People)})
	}
	return pts, top
}

// chartSVG is the attendance curve drawn for the HTML report.
func (rp *Report) chartSVG() template.HTML {
	const w, h, left, bottom = 640.0, 160.0, 36.0, 22.0
	pts, top := rp.chart(w, h)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %g %g" width="100%%" role="img" aria-label="attendance curve">`, w+left+8, h+bottom+8)
	fmt.Fprintf(&b, `<g transform="translate(%g,4)" font-size="11" fill="#555">`, left)
	for _, v := range []int{0, top / 2, top} {
		y := h - float64(v)/float64(top)*h
		fmt.Fprintf(&b, `<line x1="0" x2="%g" y1="%.1f" y2="%.1f" stroke="#ddd"/><text x="-6" y="%.1f" text-anchor="end" dominant-baseline="middle">%d</text>`, w, y, y, y, v)
	}
	for i, t := range rp.ticks() {
		fmt.Fprintf(&b, `<text x="%.1f" y="%g" text-anchor="middle">%s</text>`, w*float64(i)/4, h+16, rp.Clock(t))
	}
	if len(pts) > 0 {
		d := svgPath(pts)
		fmt.Fprintf(&b, `<path d="%s L%.1f %g L%.1f %g Z" fill="#2b6cb0" fill-opacity="0.15" stroke="none"/>`, d, pts[len(pts)-1][0], h, pts[0][0], h)
		fmt.Fprintf(&b, `<path d="%s" fill="none" stroke="#2b6cb0" stroke-width="1.5"/>`, d)
	}
	for _, r := range rp.Remarks {
		x := rp.frac(r.At) * w
		fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="0" y2="%g" stroke="#c05621" stroke-dasharray="3 2"><title>%s</title></line>`, x, x, h, template.HTMLEscapeString(r.Author+": "+r.Body))
	}
	b.WriteString(`</g></svg>`)
	return template.HTML(b.String())
}

var reportPage = template.Must(template.New("report").Funcs(template.FuncMap{
	"jpeg": func(b []byte) template.URL {
		return template.URL("data:image/jpeg;base64," + base64.StdEncoding.EncodeToString(b))
	},
}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Session.Title}} — supervision report</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;color:#1a202c;max-width:860px;margin:24px auto;padding:0 16px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:16px;margin:24px 0 8px;border-bottom:1px solid #e2e8f0;padding-bottom:4px}
table{border-collapse:collapse;width:100%}td,th{text-align:left;padding:4px 8px;border-bottom:1px solid #edf2f7;vertical-align:top}
.meta td:first-child{color:#4a5568;width:140px}.remark img{max-width:320px;display:block;margin-top:6px;border:1px solid #cbd5e0}
.muted{color:#718096}h3.trend{font-size:13px;margin:12px 0 2px}.when{white-space:nowrap;font-variant-numeric:tabular-nums}
</style></head><body>
<h1>{{.Session.Title}}</h1>
<div class="muted">Supervision report · {{.Session.Kind}} · generated {{.Date .Generated}}</div>
<h2>Session</h2>
<table class="meta">
<tr><td>Site</td><td>{{.SiteName}}</td></tr>
<tr><td>Time</td><td>{{.Date .From}} – {{.Clock .To}} ({{.Length}})</td></tr>
<tr><td>Scheduled</td><td>{{.Date .Session.Start}} – {{.Clock .Session.End}}</td></tr>
<tr><td>State</td><td>{{.Session.State}}</td></tr>
<tr><td>Cameras</td><td>{{range $i, $c := .Session.Cameras}}{{if $i}}, {{end}}{{$c}}{{end}}</td></tr>
<tr><td>Created by</td><td>{{.Session.CreatedBy}}</td></tr>
</table>
<h2>Participants</h2>
<table><tr><th>Supervisor</th><th>Invited</th><th>In the room</th><th>Remarks</th></tr>
{{range .Participants}}<tr><td>{{.Name}}</td><td>{{if .Invited}}yes{{else}}—{{end}}</td><td>{{if .Joined}}yes{{else}}—{{end}}</td><td>{{.Remarks}}</td></tr>
{{else}}<tr><td colspan="4" class="muted">nobody</td></tr>{{end}}
</table>
<h2>Attendance</h2>
{{if .Attendance.Points}}<p>Distinct people in the meeting zone of {{.Attendance.Camera}}, per {{.Step}}: peak <b>{{.Attendance.Peak}}</b>.</p>
{{.Chart}}{{else}}<p class="muted">No attendance: the session has no meeting zone, or has not started.</p>{{end}}
<h2>Remarks</h2>
<table>
{{range .Remarks}}<tr class="remark"><td class="when">{{$.Clock .At}}<br><span class="muted">{{$.Offset .At}}</span></td><td><b>{{.Author}}</b>{{if .Camera}} <span class="muted">on {{.Camera}}</span>{{end}}<br>{{.Body}}{{if .Snapshot}}<img alt="snapshot of {{.Camera}}" src="{{jpeg .Snapshot}}">{{end}}</td></tr>
{{else}}<tr><td class="muted">No remarks.</td></tr>{{end}}
</table>
{{if .Trends}}<h2>Site activity</h2>
<p class="muted">Counted on the session's cameras while it ran (solid), and in the same hours a week before (dashed).</p>
{{range .Trends}}<h3 class="trend">{{.Key}} · {{$.MetricName .}} per {{$.TrendStep .}}</h3>{{$.TrendChart .}}{{end}}{{end}}
{{if .Notices}}<h2>Notifications</h2>
<table>{{range .Notices}}<tr><td class="when">{{$.Clock .Time}}</td><td>{{if .Message}}{{.Message}}{{else}}{{.Kind}}{{end}}</td></tr>{{end}}</table>{{end}}
</body></html>
`))

// Template helpers.
func (rp *Report) Chart() template.HTML { return rp.chartSVG() }
func (rp *Report) Length() string       { return fmtDuration(rp.To.Sub(rp.From).Round(time.Second)) }
func (rp *Report) Step() string {
	return (time.Duration(rp.Attendance.Step * float64(time.Second))).String()
}

// HTML writes the report as one self-contained page.
func (rp *Report) HTML(w io.Writer) error { return reportPage.Execute(w, rp) }

// FileName is the report's file name with the extension ext.
func (rp *Report) FileName(ext string) string {
	x := rp.Session
	name := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' {
			return r
		}
		return '-'
	}, x.Title)
	if len(name) > 60 {
		name = name[:60]
	}
	return fmt.Sprintf("%s-%s.%s", x.Start.UTC().Format("20060102-1504"), strings.Trim(name, "-"), ext)
}

// MetricName says what a trend line counts.
func (rp *Report) MetricName(l TrendLine) string {
	if l.Metric == "peak" {
		return "most inside at once"
	}
	return "people and vehicles arriving"
}

// TrendStep is a trend line's step in words.
func (rp *Report) TrendStep(l TrendLine) string {
	if l.Step%time.Hour == 0 {
		return fmt.Sprintf("%d h", l.Step/time.Hour)
	}
	return fmt.Sprintf("%d min", l.Step/time.Minute)
}

// trendTop is the y axis's top value of a trend line.
func trendTop(l TrendLine) float64 {
	top := 1.0
	for i := range l.Values {
		top = max(top, l.Values[i])
		if i < len(l.Before) {
			top = max(top, l.Before[i])
		}
	}
	return top
}

// trendPoints are a line's values as points in a w×h box over the
// session (x by time).
func (rp *Report) trendPoints(l TrendLine, vals []float64, w, h, top float64) [][2]float64 {
	var pts [][2]float64
	for i, v := range vals {
		if i >= len(l.Times) {
			break
		}
		t := l.Times[i].Add(l.Step / 2) // the middle of its step
		pts = append(pts, [2]float64{max(0, min(1, rp.frac(t))) * w, h - v/top*h})
	}
	return pts
}

// TrendChart draws a trend line for the HTML report.
func (rp *Report) TrendChart(l TrendLine) template.HTML {
	const w, h, left, bottom = 640.0, 90.0, 36.0, 22.0
	top := trendTop(l)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %g %g" width="100%%" role="img" aria-label="%s">`, w+left+8, h+bottom+8, template.HTMLEscapeString(l.Key))
	fmt.Fprintf(&b, `<g transform="translate(%g,4)" font-size="11" fill="#555">`, left)
	for _, v := range []float64{0, top} {
		y := h - v/top*h
		fmt.Fprintf(&b, `<line x1="0" x2="%g" y1="%.1f" y2="%.1f" stroke="#ddd"/><text x="-6" y="%.1f" text-anchor="end" dominant-baseline="middle">%g</text>`, w, y, y, y, v)
	}
	for i, t := range rp.ticks() {
		fmt.Fprintf(&b, `<text x="%.1f" y="%g" text-anchor="middle">%s</text>`, w*float64(i)/4, h+16, rp.Clock(t))
	}
	line := func(pts [][2]float64, attrs string) {
		if len(pts) == 0 {
			return
		}
		if len(pts) == 1 { // a session shorter than a step: a dot
			fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3" %s/>`, pts[0][0], pts[0][1], strings.Replace(attrs, "stroke=", "fill=", 1))
		}
		fmt.Fprintf(&b, `<path d="%s" fill="none" %s/>`, svgPath(pts), attrs)
	}
	if l.Before != nil {
		line(rp.trendPoints(l, l.Before, w, h, top), `stroke="#a0aec0" stroke-width="1.2" stroke-dasharray="4 3" class="before"`)
	}
	line(rp.trendPoints(l, l.Values, w, h, top), `stroke="#2f855a" stroke-width="1.6" class="during"`)
	b.WriteString(`</g></svg>`)
	return template.HTML(b.String())
}

// svgPath is a polyline's points as an SVG path.
func svgPath(pts [][2]float64) string {
	var d strings.Builder
	for i, p := range pts {
		cmd := "L"
		if i == 0 {
			cmd = "M"
		}
		fmt.Fprintf(&d, "%s%.1f %.1f", cmd, p[0], p[1])
	}
	return d.String()
}
