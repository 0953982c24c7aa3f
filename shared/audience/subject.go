package audience

import (
	"slices"
	"time"

	"github.com/dcrm-project/dcrm/shared/pii"
	"github.com/dcrm-project/dcrm/shared/profile"
)

// ProfileSubject is a profile as audiences read it, with what the profile does not hold: computed
// traits, the audiences it is a member of, the times of its recent events by name, its cluster,
// lookalike scores and ranks. It reads the profile lazily and remembers what it derived (the open
// basket, the orders): it is not safe for concurrent use, and the profile must not change while it is used.
type ProfileSubject struct {
	Profile profile.Profile
	// Computed are the computed traits, by name: values as encoding/json decodes them (string,
	// float64, bool, []any, map[string]any), or ints, []string, time.Time.
	Computed map[string]any
	// Audiences are the audiences the profile is a member of (the audiences field; a Set
	// evaluates them itself).
	Audiences []string
	// Events are the times of the person's recent events, by profile.EventKey of their name (see
	// SetEvents and Inputs.Events). A name absent here is not supplied: a rule that counts it
	// fails with ErrInput; an empty list is none.
	Events    map[string][]Point
	Cluster   string             // "" for none; FromProfile takes the score's (profile.Score.Cluster)
	Lookalike map[string]float64 // lookalike scores by seed audience; FromProfile takes the score's (profile.Score.Lookalikes)
	// LookalikeRank are the estimated ranks among each seed audience's candidates, 1 = the most
	// like it; FromProfile takes the score's (profile.Score.LookalikeRanks).
	LookalikeRank map[string]int

	basket                *profile.OpenBasket
	basketRead            bool
	orders                []Point
	ordersRead            bool
	idsRead, email, phone bool
}

// FromProfile adapts a profile, its computed traits and its audiences (see ProfileSubject).
func FromProfile(p profile.Profile, computed map[string]any, audiences []string) *ProfileSubject {
	s := &ProfileSubject{Profile: p, Computed: computed, Audiences: audiences}
	if p.Score != nil {
		s.Cluster, s.Lookalike, s.LookalikeRank = p.Score.Cluster, p.Score.Lookalikes, p.Score.LookalikeRanks
	}
	return s
}

// SetEvents supplies the times of the person's events of a name (any spelling profile.EventKey
// folds together: "Order Completed", "order_completed"), in any order, at least those within the
// window Inputs.Events gives for it; nil or empty says there were none. It returns s.
func (s *ProfileSubject) SetEvents(name string, times []time.Time) *ProfileSubject {
	if s.Events == nil {
		s.Events = map[string][]Point{}
	}
	points := make([]Point, len(times))
	for i, t := range times {
		points[i] = Point{At: t}
	}
	slices.SortFunc(points, func(a, b Point) int { return a.At.Compare(b.At) }) // once, not on each evaluation
	s.Events[profile.EventKey(name)] = points
	return s
}

// Value gives a field of the profile (see README.md, "Fields", for what each reads and when it is
// missing).
func (s *ProfileSubject) Value(f Field) (Value, bool) {
	p := &s.Profile
	num := func(n float64) (Value, bool) { return Value{Number: n}, true }
	str := func(v string) (Value, bool) { return Value{String: v}, v != "" }
	at := func(t time.Time) (Value, bool) { return Value{Time: t}, !t.IsZero() }
	switch f.Kind {
	case KindTraits:
		return jsonValue(p.Traits, f)
	case KindComputed:
		return jsonValue(s.Computed, f)
	case KindOrders, KindRevenue:
		if f.Window > 0 {
			return Value{Points: s.orderPoints()}, true
		}
		if f.Kind == KindOrders {
			return num(float64(p.OrderCount))
		}
		return num(p.Revenue)
	case KindAverageOrderValue:
		if p.OrderCount == 0 {
			return Value{}, false
		}
		return num(p.Revenue / float64(p.OrderCount))
	case KindVisits:
		return num(float64(p.Visits))
	case KindPageViews:
		return num(float64(p.Counts.PageViews))
	case KindEvents:
		return num(float64(p.Counts.Events))
	case KindEngagedSeconds:
		return num(float64(p.EngagedSeconds))
	case KindFirstSeen:
		return at(p.FirstSeen)
	case KindLastSeen:
		return at(p.LastSeen)
	case KindFirstOrder:
		return at(p.FirstOrder.At)
	case KindLastOrder:
		return at(p.LastOrder.At)
	case KindLastChannel:
		return str(p.LastChannel)
	case KindAcquisitionChannel:
		return str(p.Acquisition.Channel)
	case KindRFM, KindR, KindF, KindM, KindRFMSegment:
		if p.Score == nil || p.Score.RFM == nil {
			return Value{}, false
		}
		r := p.Score.RFM
		switch f.Kind {
		case KindRFM:
			return num(float64(r.Score))
		case KindR:
			return num(float64(r.R))
		case KindF:
			return num(float64(r.F))
		case KindM:
			return num(float64(r.M))
		}
		return str(r.Segment)
	case KindCLV, KindPAlive:
		if p.Score == nil || p.Score.Value == nil {
			return Value{}, false
		}
		if f.Kind == KindCLV {
			return num(p.Score.Value.CLV)
		}
		return num(p.Score.Value.PAlive)
	case KindLapseRisk:
		if p.Score == nil || p.Score.Lapse == nil {
			return Value{}, false
		}
		return num(p.Score.Lapse.Risk)
	case KindNextAction:
		if p.Score == nil || len(p.Score.NextActions) == 0 {
			return Value{}, false
		}
		return str(p.Score.NextActions[0].Kind)
	case KindCluster:
		return str(s.Cluster)
	case KindLookalike:
		v, ok := s.Lookalike[f.Key]
		return Value{Number: v}, ok
	case KindLookalikeRank:
		v, ok := s.LookalikeRank[f.Key]
		return Value{Number: float64(v)}, ok
	case KindEmail, KindPhone:
		return Value{}, s.identified(f.Kind)
	case KindUserID:
		return Value{}, p.UserID != ""
	case KindConsent:
		c, ok := p.Consent[f.Key]
		if !ok {
			return Value{}, false
		}
		if c.Granted {
			return Value{String: ConsentGranted}, true
		}
		return Value{String: ConsentDenied}, true
	case KindAudiences:
		return Value{List: s.Audiences}, true
	case KindGroups:
		return Value{List: p.Groups}, true
	case KindBasketValue, KindBasketItems, KindBasketUpdatedAt:
		b := s.openBasket()
		switch {
		case f.Kind == KindBasketUpdatedAt && b == nil:
			return Value{}, false
		case f.Kind == KindBasketUpdatedAt:
			return at(b.UpdatedAt)
		case b == nil:
			return num(0)
		case f.Kind == KindBasketValue:
			return num(b.Value)
		}
		n := 0
		for _, it := range b.Items {
			n += it.Quantity
		}
		return num(float64(n))
	case KindOpenCases:
		n := 0
		for _, c := range p.Cases {
			if c.Open() {
				n++
			}
		}
		return num(float64(n))
	case KindEvent:
		points, ok := s.Events[f.Key]
		return Value{Points: points}, ok
	}
	return Value{}, false
}

// jsonValue reads traits.<path> or computed.<path>; null is missing.
func jsonValue(m map[string]any, f Field) (Value, bool) {
	v, ok := m[f.Key]
	if ok && len(f.Path) > 0 {
		v, ok = Lookup(v, f.Path)
	}
	if !ok || v == nil {
		return Value{}, false
	}
	return Value{JSON: v}, true
}

func (s *ProfileSubject) openBasket() *profile.OpenBasket {
	if !s.basketRead {
		s.basket, s.basketRead = s.Profile.Basket.Open(), true
	}
	return s.basket
}

func (s *ProfileSubject) orderPoints() []Point {
	if !s.ordersRead {
		s.orders = make([]Point, len(s.Profile.Orders))
		for i, o := range s.Profile.Orders {
			s.orders[i] = Point{At: o.At, Amount: o.Revenue}
		}
		s.ordersRead = true
	}
	return s.orders
}

// identified tells whether the person's traits hold their own email address or phone number (a
// top-level trait pii.Identity recognises, such as "email" or "phoneNumber", holding a string
// that is not empty: hashed or redacted as stored, it still says the person gave one).
func (s *ProfileSubject) identified(kind string) bool {
	if !s.idsRead {
		s.idsRead = true
		for name, v := range s.Profile.Traits {
			if str, ok := v.(string); !ok || str == "" {
				continue
			}
			switch pii.Identity(name) {
			case pii.Email:
				s.email = true
			case pii.Phone:
				s.phone = true
			}
		}
	}
	if kind == KindEmail {
		return s.email
	}
	return s.phone
}
