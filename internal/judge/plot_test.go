package judge

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"math"
	"os"
	"slices"
	"time"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// Row is one cell of the simulation table, for the plot.
type Row struct {
	Base, Ratio, RPS          float64
	Judge, Threshold, Peeking Summary
}

// Summary is one method's outcome in a cell: the share of runs aborted
// and the median time to abort among them.
type Summary struct {
	Aborted float64
	Median  time.Duration
}

func summary(l []int, runs int) Summary {
	s := Summary{Aborted: float64(len(l)) / float64(runs)}
	if len(l) > 0 {
		slices.Sort(l)
		s.Median = time.Duration(l[len(l)/2]+1) * interval
	}
	return s
}

// canvas is an RGBA image with the little drawing the plot needs.
type canvas struct{ *image.RGBA }

func (c canvas) line(x0, y0, x1, y1 float64, col color.Color, width int) {
	steps := int(math.Max(math.Abs(x1-x0), math.Abs(y1-y0))) + 1
	for i := 0; i <= steps; i++ {
		f := float64(i) / float64(steps)
		c.dot(x0+(x1-x0)*f, y0+(y1-y0)*f, col, width)
	}
}

func (c canvas) dot(x, y float64, col color.Color, size int) {
	for dx := -size / 2; dx <= size/2; dx++ {
		for dy := -size / 2; dy <= size/2; dy++ {
			c.Set(int(x)+dx, int(y)+dy, col)
		}
	}
}

func (c canvas) text(x, y float64, s string, col color.Color) {
	d := font.Drawer{Dst: c.RGBA, Src: image.NewUniform(col), Face: basicfont.Face7x13, Dot: fixed.P(int(x), int(y))}
	d.DrawString(s)
}

func (c canvas) textRight(x, y float64, s string, col color.Color) {
	c.text(x-float64(7*len([]rune(s))), y, s, col)
}

// writePlot draws the table at 100 requests a second: for each base error
// rate, the share of runs each method aborted (top) and the median time it
// took (bottom), against the canary/stable ratio.
func writePlot(rows []Row, runs int, path string) error {
	const W, H, panelW, panelH, left, top = 1200, 640, 330, 220, 70, 60
	img := canvas{image.NewRGBA(image.Rect(0, 0, W, H))}
	draw.Draw(img.RGBA, img.Bounds(), image.NewUniform(color.White), image.Point{}, draw.Src)
	ink, grey := color.RGBA{30, 30, 30, 255}, color.RGBA{200, 200, 200, 255}
	methods := []struct {
		name string
		col  color.RGBA
		get  func(Row) Summary
	}{
		{"judge (alpha 0.01, tolerance 10%)", color.RGBA{40, 110, 200, 255}, func(r Row) Summary { return r.Judge }},
		{"threshold: success >= 0.95, failureLimit 3", color.RGBA{220, 120, 30, 255}, func(r Row) Summary { return r.Threshold }},
		{"z-test peeked every interval", color.RGBA{150, 150, 150, 255}, func(r Row) Summary { return r.Peeking }},
	}
	img.text(left, 24, fmt.Sprintf("Canary analysis in simulation: 100 requests/s, 20%% to the canary, looked at every 10 s for 30 min, %d runs a point", runs), ink)
	for i, m := range methods {
		x := float64(left + i*380)
		img.line(x, 42, x+24, 42, m.col, 3)
		img.text(x+30, 46, m.name, ink)
	}
	ratios := []float64{1, 1.1, 1.5, 2, 5}
	for col, base := range []float64{0.001, 0.01, 0.05} {
		var cell []Row
		for _, r := range rows {
			if r.Base == base && r.RPS == 100 {
				cell = append(cell, r)
			}
		}
		for panel := range 2 {
			x0 := float64(left + col*(panelW+60))
			y0 := float64(top + 20 + panel*(panelH+60))
			x := func(i int) float64 { return x0 + 15 + float64(i)*(panelW-30)/float64(len(ratios)-1) }
			// axes and grid
			for g := 0; g <= 4; g++ {
				y := y0 + panelH - float64(g)*panelH/4
				img.line(x0, y, x0+panelW, y, grey, 1)
				label := fmt.Sprintf("%d%%", g*25)
				if panel == 1 {
					label = fmt.Sprintf("%gm", float64(g)*7.5)
				}
				img.textRight(x0-4, y+4, label, ink)
			}
			img.line(x0, y0, x0, y0+panelH, ink, 1)
			for i, r := range ratios {
				img.text(x(i)-10, y0+panelH+16, fmt.Sprintf("%gx", r), ink)
			}
			title := fmt.Sprintf("base %g%% errors: runs aborted", base*100)
			if panel == 1 {
				title = fmt.Sprintf("base %g%% errors: median time to abort", base*100)
			}
			img.text(x0, y0-8, title, ink)
			for _, m := range methods {
				px, py := -1.0, -1.0
				for i, ratio := range ratios {
					var s Summary
					found := false
					for _, r := range cell {
						if r.Ratio == ratio {
							s, found = m.get(r), true
						}
					}
					if !found || (panel == 1 && s.Aborted == 0) {
						px = -1
						continue
					}
					v := s.Aborted
					if panel == 1 {
						v = s.Median.Minutes() / 30
					}
					y := y0 + panelH - v*panelH
					if px >= 0 {
						img.line(px, py, x(i), y, m.col, 2)
					}
					img.dot(x(i), y, m.col, 6)
					px, py = x(i), y
				}
			}
		}
	}
	img.text(left, H-14, "At 1x and 1.1x (within the 10% tolerance) every abort is a false abort. The bottom row leaves out points with no aborts.", ink)
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return png.Encode(f, img.RGBA)
}
