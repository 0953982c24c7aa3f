package profile

import (
	"cmp"
	"maps"
	"slices"

	"github.com/dcrm-project/dcrm/shared/itemsize"
)

// Budget.
//
// Each growing part of a profile is bounded on its own (Traits, Sessions, Commerce and forms,
// Impressions), but all of them at their bounds, filled by a hostile sender with the longest
// strings they take (200 hits with 256-byte campaign tags and paths, 50 products and categories
// with 256-byte ids, 64 KB of traits …), take over 500 KB, and a fold of two such profiles more:
// past DynamoDB's 400 KB item limit, after which the profile could not be written again. So the
// profile as a whole is held to MaxProfileBytes, estimated as a DynamoDB item
// (itemsize.Estimate), after every Apply and Fold: when it is larger, it sheds its oldest and
// least valuable parts, in this order, until it takes at most seven eighths of the budget (so
// that the next events do not each shed again):
//
//  1. the oldest hits, settled as Sessions says (their visits and engaged time stay counted),
//     down to the latest MinBudgetHits;
//  2. impressions: the oldest of the recent ones, down to the latest, then the groups last seen
//     longest ago (their counts move to Other);
//  3. the oldest basket changes;
//  4. products and categories viewed or carted longest ago (of equal times, the least counted);
//  5. the oldest orders, settled (they stay counted in OrderCount and Revenue);
//  6. the forms least recently used, then the service cases (closed ones first, updated longest
//     ago first);
//  7. the older hits, down to the latest one.
//
// Every part sheds its oldest first, and the hits keep at least the latest, so the newest
// activity is always recorded. Counts, first and last seen, identifiers, groups, consent and
// traits (bounded to a fifth of the budget) are never shed. MaxProfileBytes leaves 100 KB of the
// item to what the record holds beside the profile (the deduplication keys of its latest events,
// its claimed identifiers, the triggers it fired, its score), to the adapter's own attributes
// (version, due index, merge claim) and to the estimate's error of a few percent.
const MaxProfileBytes = 300 << 10

// MinBudgetHits are the latest hits the budget keeps before it sheds anything else (see Budget).
const MinBudgetHits = 50

// Size estimates the profile's size as a DynamoDB item (see Budget): at most MaxProfileBytes, it
// may be an upper bound.
func (p Profile) Size() int {
	n, err := itemsize.Estimate(p, MaxProfileBytes)
	if err != nil { // a value JSON cannot encode: none is kept
		return 0
	}
	return n
}

// fit sheds what the profile must to fit MaxProfileBytes (see Budget).
func (p *Profile) fit() {
	if p.roughBytes() <= MaxProfileBytes/2 || p.Size() <= MaxProfileBytes {
		return
	}
	sheds := []func() bool{
		func() bool { return p.shedHits(MinBudgetHits) },
		p.Impressions.shed,
		p.Basket.shed,
		p.Products.shed,
		p.shedOrders,
		p.shedForms,
		p.shedCases,
		func() bool { return p.shedHits(1) },
	}
	for _, shed := range sheds {
		for p.Size() > shedTo {
			if !shed() {
				break
			}
		}
	}
}

// shedTo is the size a profile past the budget is shed to (see Budget): below it, so that the next
// events do not each pay for shedding again.
const shedTo = MaxProfileBytes * 7 / 8

// roughBytes is a quick over-estimate of the profile's size, from the elements its parts hold and
// the bounds of their strings, without encoding it: the profile is surely no larger than twice as
// much, so one under half the budget is spared the estimate (which encodes the whole profile as
// JSON) on every event.
func (p Profile) roughBytes() int {
	const s, overhead = MaxPageLength, 96 // most strings kept are bounded by MaxPageLength
	n := 8<<10 + TraitsBytes(p.Traits) + len(p.TraitTimes)*(MaxTraitName+overhead)
	for _, h := range p.Hits {
		c := h.Campaign
		n += overhead + len(h.Page) + len(h.Channel) + len(c.Source) + len(c.Medium) + len(c.Name) + len(c.ClickID)
	}
	for _, ids := range [][]string{p.AnonymousIDs, p.MergedFrom, p.Groups} {
		for _, id := range ids {
			n += len(id) + 8
		}
	}
	ps, c := p.Products, p.Products.Categories
	n += (len(ps.Viewed) + len(ps.Carted) + len(ps.Bought) + len(ps.Last) + len(c.Viewed) + len(c.Carted) + len(c.Bought) + len(c.Last)) * (s + overhead)
	for _, o := range p.Orders {
		n += s + overhead + len(o.Lines)*(2*s+overhead)
	}
	n += (len(p.Basket.Changes) + len(p.Forms) + len(p.Consent)) * (MaxConsentSource + s + overhead)
	n += len(p.Cases) * (3*s + overhead)
	n += (len(p.Impressions.Groups) + len(p.Impressions.Recent)) * (4*s + overhead)
	return n
}

// quarter is how many of n elements one step of shedding drops: a quarter, at least one.
func quarter(n int) int { return max(n/4, 1) }

// shedHits settles the oldest quarter of the hits above floor; false when there are no more.
func (p *Profile) shedHits(floor int) bool {
	if len(p.Hits) <= floor {
		return false
	}
	p.settleTo(len(p.Hits) - quarter(len(p.Hits)-floor))
	p.deriveSessions()
	return true
}

// shed drops the oldest quarter of the recent impressions but the latest, else of the groups.
func (im *Impressions) shed() bool {
	switch {
	case len(im.Recent) > 1:
		im.Recent = slices.Clone(im.Recent[quarter(len(im.Recent)-1):])
	case len(im.Groups) > 0:
		im.trimGroups(len(im.Groups) - quarter(len(im.Groups)))
	default:
		return false
	}
	return true
}

// shed drops the oldest quarter of the basket changes.
func (b *Basket) shed() bool {
	if len(b.Changes) == 0 {
		return false
	}
	b.Changes = slices.Clone(b.Changes[quarter(len(b.Changes)):])
	return true
}

// shed drops the quarter of the products, then of the categories, viewed or carted longest ago.
func (ps *Products) shed() bool {
	for _, t := range []tally{ps.products(), ps.categories()} {
		if t.shed() {
			return true
		}
	}
	return false
}

// shed drops a quarter of t's keys, those viewed or carted longest ago (bought only: first), of equal
// times the least counted, then the greatest; false when it holds none.
func (t tally) shed() bool {
	count := func(k string) int { return (*t.viewed)[k] + (*t.carted)[k] + (*t.bought)[k] }
	held := map[string]bool{}
	for _, m := range []map[string]int{*t.viewed, *t.carted, *t.bought} {
		for k := range m {
			held[k] = true
		}
	}
	keys := slices.Collect(maps.Keys(held))
	if len(keys) == 0 {
		return false
	}
	slices.SortFunc(keys, func(a, b string) int {
		return cmp.Or((*t.last)[a].Compare((*t.last)[b]), cmp.Compare(count(a), count(b)), cmp.Compare(b, a))
	})
	for _, k := range keys[:quarter(len(keys))] {
		delete(*t.viewed, k)
		delete(*t.carted, k)
		delete(*t.bought, k)
	}
	t.prune()
	return true
}

// shedOrders settles the oldest quarter of the orders.
func (p *Profile) shedOrders() bool {
	if len(p.Orders) == 0 {
		return false
	}
	p.settleOrders(len(p.Orders) - quarter(len(p.Orders)))
	p.deriveOrders()
	return true
}

// shedForms drops the quarter of the forms used longest ago.
func (p *Profile) shedForms() bool {
	if len(p.Forms) == 0 {
		return false
	}
	p.trimForms(len(p.Forms) - quarter(len(p.Forms)))
	return true
}

// shedCases drops a quarter of the service cases, closed ones updated longest ago first.
func (p *Profile) shedCases() bool {
	if len(p.Cases) == 0 {
		return false
	}
	p.trimCases(len(p.Cases) - quarter(len(p.Cases)))
	return true
}
