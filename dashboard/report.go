package dashboard

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"html/template"
	"image/jpeg"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-pdf/fpdf"

	"github.com/smarteye/smarteye/dashboard/internal/api"
	"github.com/smarteye/smarteye/telemetry/store"
)

// Report is what a session's report holds: the HTML and the PDF show the
// same things.
type Report struct {
	Session      store.Session
	SiteName     string
	From, To     time.Time
	Participants []Participant
	Attendance   Attendance
	Remarks      []ReportRemark
	Notices      []store.EventRecord
	Generated    time.Time
	loc          *time.Location
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
	store.Remark
	Snapshot []byte
}

// maxReportSnapshots bounds the pictures in one report.
const maxReportSnapshots = 200

func (s *Server) report(ctx context.Context, x store.Session) (*Report, error) {
	att, err := s.attendance(ctx, x, 0)
	if err != nil {
		return nil, err
	}
	// The report covers what the curve does: the session so far.
	rp := &Report{Session: x, SiteName: x.Site, From: att.From, To: att.To, Attendance: att, Generated: time.Now().UTC(), loc: time.Local}
	if st, ok := s.site(x.Site); ok && st.Name != "" {
		rp.SiteName = st.Name
	}
	rem, err := s.deps.Sessions.Remarks(ctx, x.ID)
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
			if rr.Snapshot, err = s.deps.Sessions.RemarkSnapshot(ctx, x.ID, r.ID); err != nil {
				return nil, err
			}
			shots++
		}
		rp.Remarks = append(rp.Remarks, rr)
		person(r.Author).Remarks++
	}
	log, err := s.deps.Sessions.AuditLog(ctx, "session", x.ID, 100000)
	if err != nil {
		return nil, err
	}
	for _, e := range log {
		if e.Action == "session.join" {
			person(e.Actor).Joined = true
		}
	}
	for _, p := range people {
		rp.Participants = append(rp.Participants, *p)
	}
	slices.SortFunc(rp.Participants, func(a, b Participant) int { return strings.Compare(a.Name, b.Name) })
	if rp.Notices, err = s.notices(ctx, x); err != nil {
		return nil, err
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
		var d strings.Builder
		for i, p := range pts {
			if i == 0 {
				fmt.Fprintf(&d, "M%.1f %.1f", p[0], p[1])
			} else {
				fmt.Fprintf(&d, "L%.1f %.1f", p[0], p[1])
			}
		}
		fmt.Fprintf(&b, `<path d="%s L%.1f %g L%.1f %g Z" fill="#2b6cb0" fill-opacity="0.15" stroke="none"/>`, d.String(), pts[len(pts)-1][0], h, pts[0][0], h)
		fmt.Fprintf(&b, `<path d="%s" fill="none" stroke="#2b6cb0" stroke-width="1.5"/>`, d.String())
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
.muted{color:#718096}.when{white-space:nowrap;font-variant-numeric:tabular-nums}
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

func reportName(x store.Session, ext string) string {
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

func (s *Server) loadReport(w http.ResponseWriter, r *http.Request) (*Report, bool) {
	x, ok := s.visibleSession(w, r)
	if !ok {
		return nil, false
	}
	rp, err := s.report(r.Context(), x)
	if err != nil {
		api.StoreFailed(s.log, w, r, "the report could not be built", err)
		return nil, false
	}
	return rp, true
}

// GET /api/v1/sessions/{id}/report.html: the report as one self-contained
// page (?download=1 saves it).
func (s *Server) sessionReportHTML(w http.ResponseWriter, r *http.Request) {
	rp, ok := s.loadReport(w, r)
	if !ok {
		return
	}
	var b bytes.Buffer
	if err := reportPage.Execute(&b, rp); err != nil {
		api.WriteError(w, http.StatusInternalServerError, err.Error())
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if r.URL.Query().Get("download") != "" {
		w.Header().Set("Content-Disposition", `attachment; filename="`+reportName(rp.Session, "html")+`"`)
	}
	w.Write(b.Bytes())
}

// GET /api/v1/sessions/{id}/report.pdf
func (s *Server) sessionReportPDF(w http.ResponseWriter, r *http.Request) {
	rp, ok := s.loadReport(w, r)
	if !ok {
		return
	}
	var b bytes.Buffer
	if err := rp.PDF(&b); err != nil {
		s.log.Warn("rendering a session report failed", "session", rp.Session.ID, "err", err)
		api.WriteError(w, http.StatusInternalServerError, "the PDF could not be rendered: "+err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/pdf")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Disposition", `inline; filename="`+reportName(rp.Session, "pdf")+`"`)
	w.Header().Set("Content-Length", strconv.Itoa(b.Len()))
	w.Write(b.Bytes())
}

// reportFonts are where Debian's fonts-dejavu-core puts the report's
// font; without it the PDF falls back to Helvetica (Latin-1 only).
var reportFonts = [2]string{"/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"}

// PDF renders the report as A4 pages.
func (rp *Report) PDF(out *bytes.Buffer) error {
	pdf := fpdf.New("P", "mm", "A4", "")
	pdf.SetTitle(rp.Session.Title, true)
	pdf.SetCreator("smarteye", true)
	pdf.SetMargins(18, 16, 18)
	pdf.SetAutoPageBreak(true, 16)
	family, text := "Helvetica", pdf.UnicodeTranslatorFromDescriptor("")
	if reg, err := os.ReadFile(reportFonts[0]); err == nil {
		if bold, err := os.ReadFile(reportFonts[1]); err == nil {
			pdf.AddUTF8FontFromBytes("dejavu", "", reg)
			pdf.AddUTF8FontFromBytes("dejavu", "B", bold)
			family, text = "dejavu", func(s string) string { return s }
		}
	}
	pdf.SetFooterFunc(func() {
		pdf.SetY(-12)
		pdf.SetFont(family, "", 8)
		pdf.SetTextColor(120, 120, 120)
		pdf.CellFormat(0, 5, text(fmt.Sprintf("%s · page %d", rp.Session.Title, pdf.PageNo())), "", 0, "C", false, 0, "")
	})
	pdf.AddPage()
	pw, _ := pdf.GetPageSize()
	lm, _, rm, _ := pdf.GetMargins()
	width := pw - lm - rm

	pdf.SetTextColor(26, 32, 44)
	pdf.SetFont(family, "B", 18)
	pdf.MultiCell(width, 8, text(rp.Session.Title), "", "L", false)
	pdf.SetFont(family, "", 9)
	pdf.SetTextColor(113, 128, 150)
	pdf.CellFormat(width, 6, text(fmt.Sprintf("Supervision report · %s · generated %s", rp.Session.Kind, rp.Date(rp.Generated))), "", 1, "L", false, 0, "")
	heading := func(s string) {
		pdf.Ln(4)
		pdf.SetFont(family, "B", 12)
		pdf.SetTextColor(26, 32, 44)
		pdf.CellFormat(width, 7, text(s), "B", 1, "L", false, 0, "")
		pdf.Ln(1)
	}
	row := func(k, v string) {
		pdf.SetFont(family, "", 10)
		pdf.SetTextColor(74, 85, 104)
		pdf.CellFormat(34, 6, text(k), "", 0, "L", false, 0, "")
		pdf.SetTextColor(26, 32, 44)
		pdf.MultiCell(width-34, 6, text(v), "", "L", false)
	}
	heading("Session")
	row("Site", rp.SiteName)
	row("Time", fmt.Sprintf("%s – %s (%s)", rp.Date(rp.From), rp.Clock(rp.To), rp.Length()))
	row("Scheduled", fmt.Sprintf("%s – %s", rp.Date(rp.Session.Start), rp.Clock(rp.Session.End)))
	row("State", rp.Session.State)
	row("Cameras", strings.Join(rp.Session.Cameras, ", "))
	row("Created by", rp.Session.CreatedBy)

	heading("Participants")
	if len(rp.Participants) == 0 {
		row("", "nobody")
	}
	for _, p := range rp.Participants {
		var what []string
		if p.Invited {
			what = append(what, "invited")
		}
		if p.Joined {
			what = append(what, "in the room")
		}
		if p.Remarks > 0 {
			what = append(what, fmt.Sprintf("%d remark(s)", p.Remarks))
		}
		row(p.Name, strings.Join(what, ", "))
	}

	heading("Attendance")
	pdf.SetFont(family, "", 10)
	if pts, top := rp.chart(width-12, 45); len(pts) > 0 {
		pdf.MultiCell(width, 6, text(fmt.Sprintf("Distinct people in the meeting zone of %s, per %s: peak %d.", rp.Attendance.Camera, rp.Step(), rp.Attendance.Peak)), "", "L", false)
		x0, y0 := lm+12, pdf.GetY()+2
		if y0+55 > 280 {
			pdf.AddPage()
			y0 = pdf.GetY() + 2
		}
		pdf.SetFont(family, "", 7)
		pdf.SetDrawColor(220, 220, 220)
		for _, v := range []int{0, top / 2, top} {
			y := y0 + 45 - float64(v)/float64(top)*45
			pdf.Line(x0, y, x0+width-12, y)
			pdf.Text(x0-6, y+1, strconv.Itoa(v))
		}
		for i, t := range rp.ticks() {
			pdf.Text(x0+(width-12)*float64(i)/4-6, y0+50, rp.Clock(t))
		}
		pdf.SetDrawColor(192, 86, 33)
		pdf.SetDashPattern([]float64{1, 0.8}, 0)
		for _, r := range rp.Remarks {
			x := x0 + rp.frac(r.At)*(width-12)
			pdf.Line(x, y0, x, y0+45)
		}
		pdf.SetDashPattern(nil, 0)
		pdf.SetDrawColor(43, 108, 176)
		pdf.SetLineWidth(0.5)
		for i := 1; i < len(pts); i++ {
			pdf.Line(x0+pts[i-1][0], y0+pts[i-1][1], x0+pts[i][0], y0+pts[i][1])
		}
		pdf.SetLineWidth(0.2)
		pdf.SetY(y0 + 54)
	} else {
		pdf.MultiCell(width, 6, text("No attendance: the session has no meeting zone, or has not started."), "", "L", false)
	}

	heading("Remarks")
	if len(rp.Remarks) == 0 {
		row("", "No remarks.")
	}
	for i, r := range rp.Remarks {
		pdf.SetFont(family, "B", 10)
		pdf.SetTextColor(26, 32, 44)
		head := fmt.Sprintf("%s (%s)  %s", rp.Clock(r.At), rp.Offset(r.At), r.Author)
		if r.Camera != "" {
			head += " on " + r.Camera
		}
		pdf.CellFormat(width, 6, text(head), "", 1, "L", false, 0, "")
		pdf.SetFont(family, "", 10)
		pdf.MultiCell(width, 5.5, text(r.Body), "", "L", false)
		if len(r.Snapshot) > 0 {
			if cfg, err := jpeg.DecodeConfig(bytes.NewReader(r.Snapshot)); err == nil && cfg.Width > 0 {
				wmm := 90.0
				hmm := wmm * float64(cfg.Height) / float64(cfg.Width)
				if pdf.GetY()+hmm > 280 {
					pdf.AddPage()
				}
				name := "remark-" + strconv.Itoa(i)
				pdf.RegisterImageOptionsReader(name, fpdf.ImageOptions{ImageType: "JPG"}, bytes.NewReader(r.Snapshot))
				pdf.ImageOptions(name, lm, pdf.GetY()+1, wmm, hmm, false, fpdf.ImageOptions{ImageType: "JPG"}, 0, "")
				pdf.SetY(pdf.GetY() + hmm + 2)
			}
		}
		pdf.Ln(2)
	}
	if len(rp.Notices) > 0 {
		heading("Notifications")
		for _, e := range rp.Notices {
			msg := e.Kind
			if e.Message != nil {
				msg = *e.Message
			}
			row(rp.Clock(e.Time), msg)
		}
	}
	if err := pdf.Error(); err != nil {
		return err
	}
	return pdf.Output(out)
}
