package attribution

import (
	"fmt"
	"strings"
	"time"
)

// Options are the settings of the models that take any.
type Options struct {
	// Direct is LastNonDirectTouch's direct set; nil: DefaultDirect.
	Direct []string
	// HalfLife is TimeDecay's half-life; 0: DefaultHalfLife.
	HalfLife time.Duration
}

// Model is one attribution model, by name.
type Model struct {
	Name string
	Run  func(paths []Path, o Options) (Result, error)
}

// Models lists every model, in the order reports show them.
func Models() []Model {
	return []Model{
		{"first-touch", func(p []Path, _ Options) (Result, error) { return FirstTouch(p) }},
		{"last-touch", func(p []Path, _ Options) (Result, error) { return LastTouch(p) }},
		{"last-non-direct", func(p []Path, o Options) (Result, error) { return LastNonDirectTouch(p, o.Direct) }},
		{"linear", func(p []Path, _ Options) (Result, error) { return Linear(p) }},
		{"position-based", func(p []Path, _ Options) (Result, error) { return PositionBased(p) }},
		{"time-decay", func(p []Path, o Options) (Result, error) { return TimeDecay(p, o.HalfLife) }},
		{"markov", func(p []Path, _ Options) (Result, error) { return Markov(p) }},
		{"markov-conversions-only", func(p []Path, _ Options) (Result, error) { return MarkovConversionsOnly(p) }},
		{"shapley", func(p []Path, _ Options) (Result, error) { return Shapley(p) }},
	}
}

// ModelNamed returns the model called name.
func ModelNamed(name string) (Model, error) {
	var names []string
	for _, m := range Models() {
		if m.Name == name {
			return m, nil
		}
		names = append(names, m.Name)
	}
	return Model{}, fmt.Errorf("model %q: want one of %s: %w", name, strings.Join(names, ", "), ErrInvalid)
}
