package scoring

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/dcrm-project/dcrm/shared/audience"
	"github.com/dcrm-project/dcrm/shared/lookalike"
	"github.com/dcrm-project/dcrm/shared/profile"
)

// Look-alikes. An audience rule may ask how much a customer resembles the members of another
// audience, its seed (`{"field": "lookalike.best-customers", "op": ">=", "value": 0.8}`). The daily
// fit trains one model per seed that a rule names (package lookalike: class-balanced logistic
// regression on the profile's measures and scores), on the sample: the sample's members of the
// seed against the others. Every score then gives the profile its resemblance to each seed, 0 to 1
// (score.lookalikes), which audience rules read; a threshold there is the look-alike audience.
//
// A threshold does not say how many it takes in. For "the N people most like the seed", the fit
// keeps with each model how its scores spread over the sample's candidates — the profiles of the
// sample that are not members of the seed — (LookalikeRanks: a lookalike.Distribution of at most
// 1,000 scores), and every score gives each candidate its estimated rank among the population's
// candidates, 1 = the most like the seed (score.lookalikeRanks; the rule
// `{"field": "lookalikeRank.best-customers", "op": "<=", "value": 10000}`):
//
//	rank = 1 + round(candidates × g / c)
//
// where g of the sample's c candidates score strictly above the profile and candidates = population
// × c / (c + seed members in the sample) is the population's estimated number of candidates (the
// population being the profiles the run counts, Models.Population). That is 1 + round(population ×
// g / n) over the sample's n profiles: exact when the sample is the population. The share g/c is a
// binomial estimate, with standard error √(p(1−p)/c) for the population's share p; the rank's
// relative standard error is about 1/√g. Members of the seed get no rank.
//
// A seed's members are found by its rule on the profile alone (audience.FromProfile): a seed whose
// rule needs more (computed traits, other audiences, counts of recent events) cannot be trained
// here, and the fit's notes say so.

// MinSeedMembers is the fewest members of a seed a sample needs to train its look-alike model:
// with fewer, the seed's weights would follow a handful of people.
const MinSeedMembers = 20

// LookalikeRow is a profile's measures as lookalike.ProfileColumns lists them, as of asOf; sc is
// the profile's score (the RFM ratings, P(alive) and CLV: unknown, NaN, without it).
func LookalikeRow(p profile.Profile, sc *profile.Score, asOf time.Time) []float64 {
	nan := math.NaN()
	days := func(t time.Time) float64 {
		if t.IsZero() || asOf.Before(t) {
			return nan
		}
		return asOf.Sub(t).Hours() / 24
	}
	row := []float64{days(p.LastOrder.At), float64(p.OrderCount), max(p.Revenue, 0), nan, days(p.FirstOrder.At), nan,
		float64(p.Visits), float64(p.Counts.PageViews), float64(p.EngagedSeconds), nan, nan, nan, nan, nan}
	if p.OrderCount > 0 {
		row[3] = max(p.Revenue, 0) / float64(p.OrderCount)
	}
	if p.OrderCount > 1 && !p.FirstOrder.At.IsZero() && p.LastOrder.At.After(p.FirstOrder.At) {
		row[5] = p.LastOrder.At.Sub(p.FirstOrder.At).Hours() / 24 / float64(p.OrderCount-1)
	}
	if sc != nil {
		if r := sc.RFM; r != nil && r.Variant == profile.VariantRFM {
			row[9], row[10], row[11] = float64(r.R), float64(r.F), float64(r.M)
		}
		if v := sc.Value; v != nil {
			row[12], row[13] = v.PAlive, v.CLV
		}
	}
	return row
}

// seedSample is what the sample holds for the look-alikes: every buyer's and visitor's measures,
// and the members of each seed among them.
type seedSample struct {
	IDs     []string
	Rows    [][]float64
	Members map[string][]string // by seed audience
	Failed  map[string]string   // seeds whose rule could not be evaluated here, and why
}

// addSeeds adds a profile's measures and the seeds it is a member of.
func (s *Sample) addSeeds(p profile.Profile, asOf time.Time) {
	if len(s.Seeds) == 0 {
		return
	}
	if s.Lookalike.Members == nil {
		s.Lookalike.Members, s.Lookalike.Failed = map[string][]string{}, map[string]string{}
	}
	s.Lookalike.IDs = append(s.Lookalike.IDs, p.ID)
	s.Lookalike.Rows = append(s.Lookalike.Rows, LookalikeRow(p, p.Score, asOf))
	subject := audience.FromProfile(p, nil, nil)
	for _, d := range s.Seeds {
		if _, failed := s.Lookalike.Failed[d.ID]; failed {
			continue
		}
		member, err := d.Match(subject, asOf)
		if err != nil {
			s.Lookalike.Failed[d.ID] = err.Error()
			continue
		}
		if member {
			s.Lookalike.Members[d.ID] = append(s.Lookalike.Members[d.ID], p.ID)
		}
	}
}

func (s *seedSample) merge(o seedSample) {
	s.IDs = append(s.IDs, o.IDs...)
	s.Rows = append(s.Rows, o.Rows...)
	for id, m := range o.Members {
		if s.Members == nil {
			s.Members = map[string][]string{}
		}
		s.Members[id] = append(s.Members[id], m...)
	}
	for id, why := range o.Failed {
		if s.Failed == nil {
			s.Failed = map[string]string{}
		}
		s.Failed[id] = why
	}
}

// Seeds are the audiences some rule of defs reads a look-alike score of, sorted by id; a seed
// that is not among defs is left out (the set's validation refuses it).
func Seeds(defs []audience.Definition) []audience.Definition {
	byID := map[string]audience.Definition{}
	for _, d := range defs {
		byID[d.ID] = d
	}
	var ids []string
	for _, d := range defs {
		for _, id := range d.Inputs().Lookalikes {
			if _, ok := byID[id]; ok && !slices.Contains(ids, id) {
				ids = append(ids, id)
			}
		}
	}
	slices.Sort(ids)
	out := make([]audience.Definition, len(ids))
	for i, id := range ids {
		out[i] = byID[id]
	}
	return out
}

// LookalikeRanks is what ranks a profile among the candidates of a seed: the seed's definition
// as the fit read it (its members get no rank), its members in the sample, and how the model's
// scores spread over the sample's other profiles.
type LookalikeRanks struct {
	Seed       audience.Definition    `json:"seed"`
	Members    int                    `json:"members"`
	Candidates lookalike.Distribution `json:"candidates"`
}

// maxRankPoints bounds the scores the distributions of all seeds keep together (about 13 bytes
// of JSON each): each seed keeps maxRankPoints / seeds, between 102 and lookalike.MaxPoints.
const maxRankPoints = 100_000

// rankPoints is the scores each seed's distribution keeps.
func rankPoints(seeds int) int {
	return min(max(maxRankPoints/max(seeds, 1), 102), lookalike.MaxPoints)
}

// fitLookalikes trains a model per seed of the sample; keep notes what it could not.
func (c Config) fitLookalikes(s Sample, asOf time.Time, m *Models, keep func(what string, had bool, when time.Time, why string)) {
	if len(s.Seeds) == 0 {
		m.Lookalikes, m.LookalikeRanks = nil, nil // no rule asks for one any more
		return
	}
	prev, prevRanks := m.Lookalikes, m.LookalikeRanks
	m.Lookalikes, m.LookalikeRanks = map[string]*Part[lookalike.Model]{}, map[string]*LookalikeRanks{}
	data := lookalike.Features{Columns: lookalike.ProfileColumns, IDs: s.Lookalike.IDs, Rows: imputed(s.Lookalike.Rows)}
	for _, d := range s.Seeds {
		what := fmt.Sprintf("look-alike model of %s", d.ID)
		old := prev[d.ID]
		kept := func(why string) {
			keep(what, old != nil, fittedAt(old), why)
			if old != nil {
				m.Lookalikes[d.ID] = old
				if r := prevRanks[d.ID]; r != nil {
					m.LookalikeRanks[d.ID] = r
				}
			}
		}
		members := s.Lookalike.Members[d.ID]
		switch {
		case s.Lookalike.Failed[d.ID] != "":
			kept("its rule needs more than the profile: " + s.Lookalike.Failed[d.ID])
		case len(members) < max(c.MinSeedMembers, 1):
			kept(fmt.Sprintf("%d of its members in the sample, at least %d needed", len(members), max(c.MinSeedMembers, 1)))
		case len(members) == len(s.Lookalike.IDs):
			kept("everyone in the sample is a member: nobody to tell apart")
		default:
			model, err := lookalike.Train(members, data, lookalike.Options{})
			if err != nil {
				kept(err.Error())
				continue
			}
			m.Lookalikes[d.ID] = &Part[lookalike.Model]{FittedAt: asOf, N: len(s.Lookalike.IDs), Model: model}
			m.LookalikeRanks[d.ID] = candidates(d, members, s.Lookalike, model, rankPoints(len(s.Seeds)))
		}
	}
	if len(m.Lookalikes) == 0 {
		m.Lookalikes = nil
	}
	if len(m.LookalikeRanks) == 0 {
		m.LookalikeRanks = nil
	}
}

// candidates scores the sample's profiles that are not members of the seed as a score does (the
// measures as read, unknown values at the population's mean, to 4 decimals) and keeps how the
// scores spread.
func candidates(seed audience.Definition, members []string, s seedSample, model lookalike.Model, points int) *LookalikeRanks {
	in := make(map[string]bool, len(members))
	for _, id := range members {
		in[id] = true
	}
	scores := make([]float64, 0, len(s.IDs)-len(members))
	for i, id := range s.IDs {
		if !in[id] {
			scores = append(scores, roundScore(model.Score(s.Rows[i])))
		}
	}
	return &LookalikeRanks{Seed: seed, Members: len(s.IDs) - len(scores), Candidates: lookalike.NewDistribution(scores, points)}
}

func roundScore(x float64) float64 { return math.Round(x*1e4) / 1e4 }

// imputed are rows with each unknown value (NaN: no order, no score) replaced by its column's
// median, which training needs; scoring counts an unknown value at the population's mean, about
// the same place.
func imputed(rows [][]float64) [][]float64 {
	if len(rows) == 0 {
		return rows
	}
	out := make([][]float64, len(rows))
	for i, r := range rows {
		out[i] = slices.Clone(r)
	}
	for j := range rows[0] {
		var known []float64
		for _, r := range rows {
			if !math.IsNaN(r[j]) {
				known = append(known, r[j])
			}
		}
		median := 0.0
		if len(known) > 0 {
			slices.Sort(known)
			median = known[len(known)/2]
		}
		for _, r := range out {
			if math.IsNaN(r[j]) {
				r[j] = median
			}
		}
	}
	return out
}

// lookalikesOf are the profile's look-alike scores under m's models, to 4 decimals.
func lookalikesOf(m *Models, p profile.Profile, sc *profile.Score, asOf time.Time) map[string]float64 {
	if len(m.Lookalikes) == 0 {
		return nil
	}
	row := LookalikeRow(p, sc, asOf)
	out := make(map[string]float64, len(m.Lookalikes))
	for id, part := range m.Lookalikes {
		out[id] = roundScore(part.Model.Score(row))
	}
	return out
}

// lookalikeRanksOf are the profile's estimated ranks among the candidates of each seed whose
// model came with ranks (see the top of this file), given its scores; none for a seed it is a
// member of (by the seed's rule, on the profile with its new score sc), nor without a population.
func lookalikeRanksOf(m *Models, p profile.Profile, sc *profile.Score, scores map[string]float64, asOf time.Time) (map[string]int, error) {
	if len(m.LookalikeRanks) == 0 || m.Population <= 0 {
		return nil, nil
	}
	p.Score = sc
	subject := audience.FromProfile(p, nil, nil)
	var out map[string]int
	var errs []error
	for id, r := range m.LookalikeRanks {
		score, ok := scores[id]
		if !ok || r.Candidates.N == 0 {
			continue
		}
		member, err := r.Seed.Match(subject, asOf)
		if err != nil {
			errs = append(errs, fmt.Errorf("look-alike rank of %s among %s: %w", p.ID, id, err))
			continue
		}
		if member {
			continue
		}
		n := float64(r.Candidates.N)
		if out == nil {
			out = make(map[string]int, len(m.LookalikeRanks))
		}
		out[id] = r.Candidates.Rank(score, float64(m.Population)*n/(n+float64(r.Members)))
	}
	return out, errors.Join(errs...)
}

// ranksMoved tells whether a look-alike rank moved by 1 % or more, or came or went.
func ranksMoved(a, b map[string]int) bool {
	if len(a) != len(b) {
		return true
	}
	for id, x := range a {
		y, ok := b[id]
		if !ok || 100*absInt(x-y) >= max(x, y) {
			return true
		}
	}
	return false
}

func absInt(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// lookalikesMoved tells whether a look-alike score moved by a hundredth or more, or came or went.
func lookalikesMoved(a, b map[string]float64) bool {
	if len(a) != len(b) {
		return true
	}
	for id, x := range a {
		y, ok := b[id]
		if !ok || math.Abs(x-y) >= 0.01 {
			return true
		}
	}
	return false
}
