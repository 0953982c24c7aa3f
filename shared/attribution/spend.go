package attribution

import (
	"cmp"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"
)

// Spend and return.
//
// Spend is what a channel (or a campaign) cost on a day, as the import's spend files hold it
// (importing.SpendRecord). Joined with a model's credits it gives each channel's cost per
// acquisition (CPA: spend / credited conversions) and return on ad spend (ROAS: credited value /
// spend); joined with the customers' first touch it gives what each channel acquired and what those
// customers are worth (the "base" a channel brings, by the scoring models' lifetime value).
// Channel names are compared by ChannelKey (case, spaces, "_" and "-" alike: "Paid_Search" is the
// enrichment's "paid search"). A ratio without a denominator (no conversion, no spend) is absent,
// never 0 or infinite. One currency at a time: spend in several is refused rather than added up.

// Spend is one day's spend on a channel (and campaign).
type Spend struct {
	Date     string // YYYY-MM-DD
	Channel  string
	Campaign string // the campaign's name, else its id; "" for the channel as a whole
	Cost     float64
	Currency string
}

// ChannelKey is how channel names are compared: lower case, "_" and "-" as spaces, runs of spaces
// as one, trimmed.
func ChannelKey(name string) string {
	name = strings.NewReplacer("_", " ", "-", " ").Replace(strings.ToLower(name))
	return strings.Join(strings.Fields(name), " ")
}

// Spent sums the spend of the days from..to (inclusive, YYYY-MM-DD) by key (ChannelKey of the
// channel, or of the campaign: the caller's choice), and returns its currency. Spend in more than
// one currency, a date that is not a date, or a cost that is negative or not finite is refused.
func Spent(spend []Spend, from, to string, key func(Spend) string) (map[string]float64, string, error) {
	for _, d := range []string{from, to} {
		if _, err := time.Parse(time.DateOnly, d); err != nil {
			return nil, "", fmt.Errorf("%w: window date %q: want YYYY-MM-DD", ErrInvalid, d)
		}
	}
	out, currency := map[string]float64{}, ""
	for i, s := range spend {
		if _, err := time.Parse(time.DateOnly, s.Date); err != nil {
			return nil, "", fmt.Errorf("%w: spend %d: date %q", ErrInvalid, i, s.Date)
		}
		if math.IsNaN(s.Cost) || math.IsInf(s.Cost, 0) || s.Cost < 0 {
			return nil, "", fmt.Errorf("%w: spend %d: cost %v", ErrInvalid, i, s.Cost)
		}
		if s.Date < from || s.Date > to {
			continue
		}
		if currency == "" {
			currency = s.Currency
		} else if !strings.EqualFold(currency, s.Currency) {
			return nil, "", fmt.Errorf("%w: spend in %s and %s: convert it to one currency first", ErrInvalid, currency, s.Currency)
		}
		out[key(s)] += s.Cost
	}
	return out, strings.ToUpper(currency), nil
}

// ByChannel keys spend by its channel; ByCampaign by its campaign.
func ByChannel(s Spend) string  { return ChannelKey(s.Channel) }
func ByCampaign(s Spend) string { return ChannelKey(s.Campaign) }

// Return is what a channel cost and earned under one model.
type Return struct {
	Channel     string // as the model names it; as the spend names it when the model has no credit for it
	Spend       float64
	Conversions float64
	Value       float64
	CPA         *float64 // Spend / Conversions; nil without conversions or without spend figures
	ROAS        *float64 // Value / Spend; nil without spend
	spentOn     bool
}

// Returns joins a model's credits with the spend by channel (Spent's map, keyed by ChannelKey): one
// Return per credited channel and per channel spent on without credit, sorted by channel key.
func Returns(r Result, spent map[string]float64) []Return {
	byKey := map[string]*Return{}
	for _, c := range r.Credits {
		k := ChannelKey(c.Channel)
		ret := byKey[k]
		if ret == nil {
			ret = &Return{Channel: c.Channel}
			byKey[k] = ret
		}
		ret.Conversions += c.Conversions
		ret.Value += c.Value
	}
	for k, cost := range spent {
		ret := byKey[k]
		if ret == nil {
			ret = &Return{Channel: k}
			byKey[k] = ret
		}
		ret.Spend, ret.spentOn = cost, true
	}
	out := make([]Return, 0, len(byKey))
	for _, k := range slices.Sorted(maps.Keys(byKey)) {
		ret := *byKey[k]
		if ret.spentOn { // a channel without spend figures has no cost per acquisition, not a free one
			ret.CPA, ret.ROAS = ratio(ret.Spend, ret.Conversions), ratio(ret.Value, ret.Spend)
		}
		out = append(out, ret)
	}
	return out
}

// Customer is what the acquisition base needs of a customer: the channel of their first touch
// ("" when unknown) and their worth.
type Customer struct {
	AcquisitionChannel string
	Revenue            float64
	CLV                float64 // the scoring models' lifetime value; 0 when not scored
}

// Base is what a channel acquired: the customers whose first touch it was, their revenue and
// lifetime value, and what acquiring each cost when the channel had spend.
type Base struct {
	Channel    string // ChannelKey of the acquisition channel; "unknown" for none
	Customers  int
	Revenue    float64
	CLV        float64
	AverageCLV float64
	Spend      float64
	CAC        *float64 // Spend / Customers; nil without customers or without spend figures
	// CLVToCAC is AverageCLV / CAC: how many times its cost a customer of the channel returns.
	CLVToCAC *float64
	spentOn  bool
}

// Acquired groups customers by acquisition channel, with the spend by channel (Spent's map, over
// the period the customers were acquired in), sorted by channel; channels spent on that acquired
// no one are listed with zero customers.
func Acquired(customers []Customer, spent map[string]float64) []Base {
	byKey := map[string]*Base{}
	get := func(k string) *Base {
		if byKey[k] == nil {
			byKey[k] = &Base{Channel: k}
		}
		return byKey[k]
	}
	for _, c := range customers {
		b := get(cmp.Or(ChannelKey(c.AcquisitionChannel), "unknown"))
		b.Customers++
		b.Revenue += c.Revenue
		b.CLV += c.CLV
	}
	for k, cost := range spent {
		b := get(k)
		b.Spend, b.spentOn = cost, true
	}
	out := make([]Base, 0, len(byKey))
	for _, k := range slices.Sorted(maps.Keys(byKey)) {
		b := *byKey[k]
		if b.Customers > 0 {
			b.AverageCLV = b.CLV / float64(b.Customers)
		}
		if b.spentOn {
			b.CAC = ratio(b.Spend, float64(b.Customers))
		}
		if b.CAC != nil {
			b.CLVToCAC = ratio(b.AverageCLV, *b.CAC)
		}
		out = append(out, b)
	}
	return out
}

// ratio is a / b, or nil when b is 0 (no denominator: no ratio, rather than 0 or an infinity).
func ratio(a, b float64) *float64 {
	if b == 0 {
		return nil
	}
	v := a / b
	return &v
}
