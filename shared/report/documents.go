package report

import (
	"encoding/json"
	"time"

	"github.com/dcrm-project/dcrm/shared/journey"
)

// The parts of a report: one object each in the period's folder (functions/reports/README.md).
const (
	ManifestPart       = "manifest.json"
	AttributionPart    = "attribution.json"
	AttributionCSVPart = "attribution.csv"
	JourneysPart       = "journeys.json"
	PathsCSVPart       = "paths.csv"
	FunnelCSVPart      = "funnel.csv"
	PicturePart        = "picture.svg"
	LatestKey          = "latest.json" // under the reports prefix: {"period": …}, written last
)

// Parts are every part of a report, the manifest first.
var Parts = []string{ManifestPart, AttributionPart, AttributionCSVPart, JourneysPart, PathsCSVPart, FunnelCSVPart, PicturePart}

// Report is a period's report: its manifest and documents (JSON Schemas in
// events/schemas/files: report-manifest.v1, report-attribution.v1, report-journeys.v1).
type Report struct {
	Manifest    Manifest
	Attribution Attribution
	Journeys    Journeys
}

// Manifest says what a report holds.
type Manifest struct {
	Period      string           `json:"period"`
	From        string           `json:"from"`
	To          string           `json:"to"`
	CreatedAt   time.Time        `json:"createdAt"`
	Lookback    journey.Duration `json:"lookback"`
	Goals       []string         `json:"goals"`
	People      int              `json:"people"`      // people with any journey read
	Conversions int              `json:"conversions"` // of every goal
	Parts       []string         `json:"parts"`
}

// Latest names the newest report.
type Latest struct {
	Period string `json:"period"`
}

// Attribution is every goal's attribution, by channel and by campaign, under every model.
type Attribution struct {
	Period   string            `json:"period"`
	From     string            `json:"from"`
	To       string            `json:"to"`
	Currency string            `json:"currency,omitempty"` // of the spend; "" without spend in the period
	Goals    []GoalAttribution `json:"goals"`
	Base     []Base            `json:"base"` // what each channel acquired: customers first ordering in the period
}

// GoalAttribution is one goal's conversions and their attribution.
type GoalAttribution struct {
	Goal        string  `json:"goal"`
	Journeys    int     `json:"journeys"` // converted or not
	Conversions float64 `json:"conversions"`
	Value       float64 `json:"value"`
	// Untouched are the conversions with no touch in their lookback: in Conversions, on no path.
	Untouched int     `json:"untouched"`
	Levels    []Level `json:"levels"` // by channel, then by campaign
	// Segments are the channel level among the people of each segment (Builder.segmentLevels):
	// attribution.json only, not attribution.csv.
	Segments []SegmentLevel `json:"segments,omitempty"`
}

// SegmentLevel is one goal's attribution by channel among the people of one segment: SegmentBy is
// rfm, acquisition or device, Segment its name (as in the journeys by segment). Its credits have
// no spend figures: spend is not split by segment.
type SegmentLevel struct {
	SegmentBy   string  `json:"segmentBy"`
	Segment     string  `json:"segment"`
	Journeys    int     `json:"journeys"` // converted or not
	Conversions float64 `json:"conversions"`
	Value       float64 `json:"value"`
	Untouched   int     `json:"untouched"` // conversions with no touch in their lookback
	Level       Level   `json:"level"`
}

// Level is the attribution of a goal with touches named by channel or by campaign.
type Level struct {
	By     string         `json:"by"`
	Models []ModelCredits `json:"models"`
}

// ModelCredits is one model's credits at a level.
type ModelCredits struct {
	Model string `json:"model"`
	// ConversionProbability and ValuePerJourney: the Markov models' P(conversion) from the start
	// and expected value per journey.
	ConversionProbability *float64 `json:"conversionProbability,omitempty"`
	ValuePerJourney       *float64 `json:"valuePerJourney,omitempty"`
	Method                string   `json:"method,omitempty"` // how Shapley values were computed
	Credits               []Credit `json:"credits"`
}

// Credit is what a model credits a channel (or campaign) with, and its spend and return; absent
// figures have no meaning there (no removal effect outside Markov, no spend figures, no
// denominator).
type Credit struct {
	Name          string   `json:"name"`
	Conversions   float64  `json:"conversions"`
	Value         float64  `json:"value"`
	RemovalEffect *float64 `json:"removalEffect,omitempty"`
	Spend         *float64 `json:"spend,omitempty"`
	CPA           *float64 `json:"cpa,omitempty"`
	ROAS          *float64 `json:"roas,omitempty"`
}

// Base is what a channel acquired (attribution.Base).
type Base struct {
	Channel    string   `json:"channel"`
	Customers  int      `json:"customers"`
	Revenue    float64  `json:"revenue"`
	CLV        float64  `json:"clv"`
	AverageCLV float64  `json:"averageClv"`
	Spend      float64  `json:"spend"`
	CAC        *float64 `json:"cac,omitempty"`
	CLVToCAC   *float64 `json:"clvToCac,omitempty"`
}

// Journeys are the journeys by goal and segment, and the funnel by segment.
type Journeys struct {
	Period string          `json:"period"`
	From   string          `json:"from"`
	To     string          `json:"to"`
	Goals  []GoalJourneys  `json:"goals"`
	Funnel []FunnelSegment `json:"funnel"`
}

// GoalJourneys are one goal's journeys in one segment (journey.GoalJourneys). SegmentBy is "" for
// everyone (Segment "(all)"), else rfm, acquisition or device.
type GoalJourneys struct {
	Goal             string        `json:"goal"`
	SegmentBy        string        `json:"segmentBy"`
	Segment          string        `json:"segment"`
	Journeys         int           `json:"journeys"`
	Conversions      int           `json:"conversions"`
	Nulls            int           `json:"nulls"`
	Value            float64       `json:"value"`
	MedianHours      float64       `json:"medianHoursToConversion"`
	TopPaths         []PathCount   `json:"topPaths"`
	Lengths          []LengthCount `json:"lengths"`
	TimeToConversion []TimeCount   `json:"timeToConversion"`
	Transitions      Transitions   `json:"transitions"`
	source           journey.GoalJourneys
}

// PathCount, LengthCount, TimeCount and Transitions are journey's, with JSON names.
type PathCount struct {
	Path        string  `json:"path"`
	Journeys    int     `json:"journeys"`
	Conversions int     `json:"conversions"`
	Value       float64 `json:"value"`
	Rate        float64 `json:"rate"`
}

type LengthCount struct {
	Touches     int `json:"touches"`
	Conversions int `json:"conversions"`
	Nulls       int `json:"nulls"`
}

type TimeCount struct {
	Label       string `json:"label"`
	Conversions int    `json:"conversions"`
}

type Transitions struct {
	From   []string `json:"from"`
	To     []string `json:"to"`
	Counts [][]int  `json:"counts"`
}

// FunnelSegment is the funnel in one segment.
type FunnelSegment struct {
	Funnel    string       `json:"funnel"`
	SegmentBy string       `json:"segmentBy"`
	Segment   string       `json:"segment"`
	Steps     []FunnelStep `json:"steps"`
	source    journey.FunnelSegment
}

type FunnelStep struct {
	Step    string  `json:"step"`
	Reached int     `json:"reached"`
	Dropped int     `json:"dropped"`
	Rate    float64 `json:"rate"`
}

func goalJourneys(by string, g journey.GoalJourneys) GoalJourneys {
	out := GoalJourneys{Goal: g.Goal, SegmentBy: by, Segment: g.Segment, Journeys: g.Journeys, Conversions: g.Conversions,
		Nulls: g.Nulls, Value: g.Value, MedianHours: g.MedianTime.Hours(), source: g,
		TopPaths: []PathCount{}, Lengths: []LengthCount{}, TimeToConversion: []TimeCount{},
		Transitions: Transitions{From: g.Transitions.From, To: g.Transitions.To, Counts: g.Transitions.Counts}}
	for _, p := range g.TopPaths {
		out.TopPaths = append(out.TopPaths, PathCount{p.Path, p.Journeys, p.Conversions, p.Value, p.Rate})
	}
	for _, l := range g.Lengths {
		out.Lengths = append(out.Lengths, LengthCount{l.Touches, l.Conversions, l.Nulls})
	}
	for _, t := range g.TimeToConversion {
		out.TimeToConversion = append(out.TimeToConversion, TimeCount{t.Label, t.Conversions})
	}
	if out.Transitions.From == nil {
		out.Transitions = Transitions{From: []string{}, To: []string{}, Counts: [][]int{}}
	}
	return out
}

func funnelSegment(by string, f journey.FunnelSegment) FunnelSegment {
	out := FunnelSegment{Funnel: f.Funnel, SegmentBy: by, Segment: f.Segment, Steps: []FunnelStep{}, source: f}
	for _, s := range f.Steps {
		out.Steps = append(out.Steps, FunnelStep{s.Step, s.Reached, s.Dropped, s.Rate})
	}
	return out
}

// JSON encodes a document as stored: indented, so that a person can read it too.
func JSON(v any) ([]byte, error) { return json.MarshalIndent(v, "", "  ") }
