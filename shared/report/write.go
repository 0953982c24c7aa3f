package report

import (
	"bufio"
	"encoding/csv"
	"errors"
	"io"
	"slices"
	"strconv"

	"github.com/dcrm-project/dcrm/shared/attribution/picture"
	"github.com/dcrm-project/dcrm/shared/journey"
)

// CSV headers of the parts (functions/reports/README.md documents them).
var (
	AttributionHeader = []string{"goal", "by", "model", "name", "conversions", "value", "removal_effect", "spend", "cpa", "roas"}
	PathsHeader       = []string{"goal", "segment_by", "segment", "path", "journeys", "conversions", "value", "rate"}
	FunnelHeader      = []string{"funnel", "segment_by", "segment", "step", "reached", "dropped", "rate"}
)

// WriteAttributionCSV writes one row per goal, level, model and name, numbers to full precision,
// empty cells where a figure has no meaning.
func (r Report) WriteAttributionCSV(w io.Writer) error {
	return writeCSV(w, AttributionHeader, func(row func([]string) error) error {
		for _, g := range r.Attribution.Goals {
			for _, l := range g.Levels {
				for _, m := range l.Models {
					for _, c := range m.Credits {
						if err := row([]string{g.Goal, l.By, m.Model, c.Name, number(c.Conversions), number(c.Value),
							optional(c.RemovalEffect), optional(c.Spend), optional(c.CPA), optional(c.ROAS)}); err != nil {
							return err
						}
					}
				}
			}
		}
		return nil
	})
}

// WritePathsCSV writes the top paths of every goal and segment.
func (r Report) WritePathsCSV(w io.Writer) error {
	return writeCSV(w, PathsHeader, func(row func([]string) error) error {
		for _, g := range r.Journeys.Goals {
			for _, p := range g.TopPaths {
				if err := row([]string{g.Goal, g.SegmentBy, g.Segment, p.Path, strconv.Itoa(p.Journeys), strconv.Itoa(p.Conversions),
					number(p.Value), number(p.Rate)}); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// WriteFunnelCSV writes the funnel's steps in every segment.
func (r Report) WriteFunnelCSV(w io.Writer) error {
	return writeCSV(w, FunnelHeader, func(row func([]string) error) error {
		for _, f := range r.Journeys.Funnel {
			for _, s := range f.Steps {
				if err := row([]string{f.Funnel, f.SegmentBy, f.Segment, s.Step, strconv.Itoa(s.Reached), strconv.Itoa(s.Dropped),
					number(s.Rate)}); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// PictureModels are the models the picture draws side by side (the others are in the documents):
// the heuristics a marketer knows, and the two data-driven ones.
var PictureModels = []string{"first-touch", "last-touch", "linear", "position-based", "time-decay", "markov", "shapley"}

// pictureGoal is the goal the picture shows: the first with conversions, orders first.
func (r Report) pictureGoal() (GoalAttribution, bool) {
	goals := slices.Clone(r.Attribution.Goals)
	slices.SortStableFunc(goals, func(a, b GoalAttribution) int {
		return boolRank(b.Goal == "order") - boolRank(a.Goal == "order")
	})
	for _, g := range goals {
		if g.Conversions > 0 && len(g.Levels) > 0 && len(g.Levels[0].Models) > 0 {
			return g, true
		}
	}
	return GoalAttribution{}, false
}

func boolRank(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Picture is what the picture shows: the goal's credits by channel under PictureModels, spend and
// return under markov (when there was spend), the goal's journeys and the funnel of everyone.
func (r Report) Picture() picture.Input {
	in := picture.Input{Period: r.Manifest.From + " to " + r.Manifest.To}
	g, ok := r.pictureGoal()
	if !ok {
		in.Title = "No conversions in the period"
	} else {
		in.Title = "Attribution of " + g.Goal + " by channel"
		index := map[string]int{}
		level := g.Levels[0]
		for _, name := range PictureModels {
			i := slices.IndexFunc(level.Models, func(m ModelCredits) bool { return m.Model == name })
			if i < 0 {
				continue
			}
			m := level.Models[i]
			in.Models = append(in.Models, name)
			for _, c := range m.Credits {
				if _, seen := index[c.Name]; !seen {
					index[c.Name] = len(in.Channels)
					in.Channels = append(in.Channels, picture.Channel{Name: c.Name, Credits: make([]float64, len(PictureModels))})
				}
				in.Channels[index[c.Name]].Credits[len(in.Models)-1] = c.Conversions
			}
			if name == "markov" && r.Attribution.Currency != "" {
				in.ReturnsModel, in.Currency = name, r.Attribution.Currency
				for _, c := range m.Credits {
					in.Returns = append(in.Returns, picture.Return{Channel: c.Name, Spend: deref(c.Spend), Conversions: c.Conversions,
						Value: c.Value, CPA: c.CPA, ROAS: c.ROAS})
				}
			}
		}
		for i := range in.Channels {
			in.Channels[i].Credits = in.Channels[i].Credits[:len(in.Models)]
		}
		in.SortBy = "markov"
		for _, j := range r.Journeys.Goals {
			if j.Goal == g.Goal && j.SegmentBy == "" {
				in.Journeys = picture.JourneysOf(j.source)
			}
		}
	}
	for _, f := range r.Journeys.Funnel {
		if f.SegmentBy == "" && f.Segment == journey.AllSegments {
			in.Funnel = picture.FunnelOf(f.source)
		}
	}
	return in
}

// WritePicture draws the picture (an SVG).
func (r Report) WritePicture(w io.Writer) error { return picture.SVG(w, r.Picture()) }

func writeCSV(out io.Writer, header []string, rows func(row func([]string) error) error) error {
	bw := bufio.NewWriter(out)
	w := csv.NewWriter(bw)
	if err := w.Write(header); err != nil {
		return err
	}
	if err := rows(w.Write); err != nil {
		return err
	}
	w.Flush()
	return errors.Join(w.Error(), bw.Flush())
}

func number(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

func optional(v *float64) string {
	if v == nil {
		return ""
	}
	return number(*v)
}

func deref(v *float64) float64 {
	if v == nil {
		return 0
	}
	return *v
}
