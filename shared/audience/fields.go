package audience

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/dcrm-project/dcrm/shared/profile"
)

// Field kinds: what a condition's field names, as Field.Kind says it to a Subject. Fields of a
// family (traits.<path>, computed.<path>, consent.<purpose>, lookalike.<audience>,
// event.<name>.count) have the family's kind and say which one in Field.Key.
const (
	KindTraits             = "traits"
	KindComputed           = "computed"
	KindOrders             = "orders"
	KindRevenue            = "revenue"
	KindAverageOrderValue  = "averageOrderValue"
	KindVisits             = "visits"
	KindPageViews          = "pageViews"
	KindEvents             = "events"
	KindEngagedSeconds     = "engagedSeconds"
	KindFirstSeen          = "firstSeen"
	KindLastSeen           = "lastSeen"
	KindFirstOrder         = "firstOrder"
	KindLastOrder          = "lastOrder"
	KindLastChannel        = "lastChannel"
	KindAcquisitionChannel = "acquisitionChannel"
	KindRFM                = "score.rfm"
	KindR                  = "score.r"
	KindF                  = "score.f"
	KindM                  = "score.m"
	KindRFMSegment         = "score.rfmSegment"
	KindCLV                = "score.clv"
	KindPAlive             = "score.pAlive"
	KindLapseRisk          = "score.lapseRisk"
	KindNextAction         = "score.nextAction"
	KindCluster            = "cluster"
	KindLookalike          = "lookalike"
	KindLookalikeRank      = "lookalikeRank"
	KindEmail              = "identifiers.email"
	KindPhone              = "identifiers.phone"
	KindUserID             = "identifiers.userId"
	KindConsent            = "consent"
	KindAudiences          = "audiences"
	KindGroups             = "groups"
	KindBasketValue        = "basket.value"
	KindBasketItems        = "basket.items"
	KindBasketUpdatedAt    = "basket.updatedAt"
	KindOpenCases          = "cases.open"
	KindEvent              = "event"
)

// Field is a condition's field as a Subject is asked for it.
type Field struct {
	Name string // as written: "traits.address.city", "event.Order Completed.count"
	Kind string // KindTraits, KindOrders, KindCLV …
	// Key says which field of a family: the top-level trait or computed trait, the consent
	// purpose, the seed audience of a lookalike, the event name (as profile.EventKey writes it).
	Key string
	// Path is the members below Key of traits.<path> and computed.<path>
	// ("traits.address.city": Key "address", Path ["city"]).
	Path []string
	// Window is the within member of orders, revenue and event counts: the Subject then gives
	// the orders or events as Points, and the evaluation counts (or sums) those within it.
	Window time.Duration
}

// Value is a field's value as a Subject gives it: the member of the field's type (see
// README.md). A Subject says a field is missing by returning false instead.
type Value struct {
	Number float64   // number fields
	String string    // string fields: channels, segment, next action, consent ("granted", "denied")
	Time   time.Time // time fields
	List   []string  // groups, audiences
	// Points are the orders (with their revenue) of orders and revenue with a window, and the
	// occurrences of event counts.
	Points []Point
	// JSON is a trait's or computed trait's value as encoding/json decodes it (string, float64,
	// bool, []any, map[string]any); ints, []string and time.Time are read as well.
	JSON any
}

// Point is one order or event: when it happened, and for an order its revenue.
type Point struct {
	At     time.Time
	Amount float64
}

// Subject is the customer an audience is evaluated against. Value returns the value of a field,
// or false when the customer has none (see README.md for what is missing when). It is called for
// each condition, and again for the times NextChange tries: it should be cheap.
type Subject interface {
	Value(f Field) (Value, bool)
}

// Types of fields.
type ftype uint8

const (
	tNumber   ftype = iota + 1
	tString         // a string, compared exactly
	tTime           // a point in time
	tList           // a list of strings
	tPresence       // identifiers: present or not
	tConsent        // granted, denied or unknown
	tJSON           // a trait or computed trait: any JSON value, its type read at evaluation
)

func (t ftype) String() string {
	return [...]string{"", "number", "string", "time", "list", "identifier", "consent", "trait"}[t]
}

// Inputs a field depends on (see Inputs).
type source uint8

const (
	srcTraits source = iota + 1
	srcComputed
	srcProfile
	srcScore
	srcCluster
	srcLookalike
	srcAudiences
	srcEvents
)

type spec struct {
	typ       ftype
	src       source
	windowed  bool // takes a within member
	fixedName bool // a field of its own, not a family
}

var fields = map[string]spec{
	KindOrders:             {tNumber, srcProfile, true, true},
	KindRevenue:            {tNumber, srcProfile, true, true},
	KindAverageOrderValue:  {tNumber, srcProfile, false, true},
	KindVisits:             {tNumber, srcProfile, false, true},
	KindPageViews:          {tNumber, srcProfile, false, true},
	KindEvents:             {tNumber, srcProfile, false, true},
	KindEngagedSeconds:     {tNumber, srcProfile, false, true},
	KindFirstSeen:          {tTime, srcProfile, false, true},
	KindLastSeen:           {tTime, srcProfile, false, true},
	KindFirstOrder:         {tTime, srcProfile, false, true},
	KindLastOrder:          {tTime, srcProfile, false, true},
	KindLastChannel:        {tString, srcProfile, false, true},
	KindAcquisitionChannel: {tString, srcProfile, false, true},
	KindRFM:                {tNumber, srcScore, false, true},
	KindR:                  {tNumber, srcScore, false, true},
	KindF:                  {tNumber, srcScore, false, true},
	KindM:                  {tNumber, srcScore, false, true},
	KindRFMSegment:         {tString, srcScore, false, true},
	KindCLV:                {tNumber, srcScore, false, true},
	KindPAlive:             {tNumber, srcScore, false, true},
	KindLapseRisk:          {tNumber, srcScore, false, true},
	KindNextAction:         {tString, srcScore, false, true},
	KindCluster:            {tString, srcCluster, false, true},
	KindEmail:              {tPresence, srcProfile, false, true},
	KindPhone:              {tPresence, srcProfile, false, true},
	KindUserID:             {tPresence, srcProfile, false, true},
	KindAudiences:          {tList, srcAudiences, false, true},
	KindGroups:             {tList, srcProfile, false, true},
	KindBasketValue:        {tNumber, srcProfile, false, true},
	KindBasketItems:        {tNumber, srcProfile, false, true},
	KindBasketUpdatedAt:    {tTime, srcProfile, false, true},
	KindOpenCases:          {tNumber, srcProfile, false, true},
	// Families.
	KindTraits:        {tJSON, srcTraits, false, false},
	KindComputed:      {tJSON, srcComputed, false, false},
	KindConsent:       {tConsent, srcProfile, false, false},
	KindLookalike:     {tNumber, srcLookalike, false, false},
	KindLookalikeRank: {tNumber, srcLookalike, false, false},
	KindEvent:         {tNumber, srcEvents, true, false},
}

// knownFields lists the fields for error messages.
var knownFields = func() string {
	var fixed []string
	for name, s := range fields {
		if s.fixedName {
			fixed = append(fixed, name)
		}
	}
	slices.Sort(fixed)
	return "traits.<name>, computed.<name>, consent.<purpose>, event.<name>.count, lookalike.<audience>, lookalikeRank.<audience>, " + strings.Join(fixed, ", ")
}()

// consentPurposes are the purposes a consent field names.
var consentPurposes = []string{profile.PurposeAnalytics, profile.PurposeMarketing}

// parseField reads a condition's field name.
func parseField(name string) (Field, spec, error) {
	f := Field{Name: name}
	fail := func(format string, args ...any) (Field, spec, error) {
		return Field{}, spec{}, fmt.Errorf("field %q: "+format, append([]any{name}, args...)...)
	}
	if len(name) > MaxFieldBytes {
		return fail("%d bytes: at most %d", len(name), MaxFieldBytes)
	}
	if s, ok := fields[name]; ok && s.fixedName {
		f.Kind = name
		return f, s, nil
	}
	family, rest, _ := strings.Cut(name, ".")
	switch family {
	case KindTraits, KindComputed:
		path := strings.Split(rest, ".")
		if rest == "" || slices.Contains(path, "") || !utfValid(rest) {
			return fail("want %s.<name>, or a path into an object such as %s.address.city", family, family)
		}
		if len(path) > MaxPathMembers {
			return fail("%d members: at most %d", len(path), MaxPathMembers)
		}
		f.Kind, f.Key = family, path[0]
		if len(path) > 1 {
			f.Path = path[1:]
		}
	case KindConsent:
		if !slices.Contains(consentPurposes, rest) {
			return fail("unknown consent purpose %q: want one of %s", rest, strings.Join(consentPurposes, ", "))
		}
		f.Kind, f.Key = family, rest
	case KindLookalike, KindLookalikeRank:
		if err := checkID(rest); err != nil {
			return fail("want %s.<audience id>: the id %v", family, err)
		}
		f.Kind, f.Key = family, rest
	case KindEvent:
		ev, ok := strings.CutSuffix(rest, ".count")
		if !ok || ev == "" {
			return fail("want event.<name>.count, such as event.Order Completed.count")
		}
		if !utfValid(ev) || profile.EventKey(ev) == "" {
			return fail("event name %q: want 1 to 64 bytes with letters or digits", ev)
		}
		f.Kind, f.Key = family, profile.EventKey(ev)
	default:
		return fail("unknown: want one of %s", knownFields)
	}
	return f, fields[f.Kind], nil
}

// Lookup reads the member at path inside a JSON value (objects only, as encoding/json decodes
// them); for Subjects resolving traits.<path> and computed.<path>.
func Lookup(v any, path []string) (any, bool) {
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = m[p]; !ok {
			return nil, false
		}
	}
	return v, true
}
