package supervise

import (
	"bytes"
	"fmt"
	"image/jpeg"
	"os"
	"strconv"
	"strings"

	"github.com/go-pdf/fpdf"
)

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

	if len(rp.Trends) > 0 {
		heading("Site activity")
		pdf.SetFont(family, "", 9)
		pdf.SetTextColor(113, 128, 150)
		pdf.MultiCell(width, 5, text("Counted on the session's cameras while it ran (solid), and in the same hours a week before (dashed)."), "", "L", false)
		for _, l := range rp.Trends {
			const ch = 22.0
			if pdf.GetY()+ch+14 > 280 {
				pdf.AddPage()
			}
			pdf.SetFont(family, "B", 9)
			pdf.SetTextColor(26, 32, 44)
			pdf.CellFormat(width, 6, text(fmt.Sprintf("%s · %s per %s", l.Key, rp.MetricName(l), rp.TrendStep(l))), "", 1, "L", false, 0, "")
			x0, y0 := lm+12, pdf.GetY()+1
			top := trendTop(l)
			pdf.SetFont(family, "", 7)
			pdf.SetDrawColor(220, 220, 220)
			for _, v := range []float64{0, top} {
				y := y0 + ch - v/top*ch
				pdf.Line(x0, y, x0+width-12, y)
				pdf.Text(x0-6, y+1, strconv.FormatFloat(v, 'g', 4, 64))
			}
			for i, t := range rp.ticks() {
				pdf.Text(x0+(width-12)*float64(i)/4-6, y0+ch+5, rp.Clock(t))
			}
			draw := func(vals []float64) {
				pts := rp.trendPoints(l, vals, width-12, ch, top)
				for i := 1; i < len(pts); i++ {
					pdf.Line(x0+pts[i-1][0], y0+pts[i-1][1], x0+pts[i][0], y0+pts[i][1])
				}
			}
			if l.Before != nil {
				pdf.SetDrawColor(160, 174, 192)
				pdf.SetDashPattern([]float64{1, 0.8}, 0)
				draw(l.Before)
				pdf.SetDashPattern(nil, 0)
			}
			pdf.SetDrawColor(47, 133, 90)
			pdf.SetLineWidth(0.5)
			draw(l.Values)
			pdf.SetLineWidth(0.2)
			pdf.SetY(y0 + ch + 8)
		}
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
