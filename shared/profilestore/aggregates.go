package profilestore

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/guregu/dynamo/v2"

	"github.com/dcrm-project/dcrm/shared/profile"
)

// aggregateFields are the Profiles attributes that hold a profile's sessions, commerce and forms
// (see package profile). Stitch writes them with the rest of the behaviour fields. The activity
// window (hits) is stored as one compact binary attribute, a few bytes per hit, so that a full
// window costs a few write units rather than dozens; the rest are readable maps and lists.
type aggregateFields struct {
	Hits           hitList             `dynamo:"hits,omitempty"`
	Settled        *settledItem        `dynamo:"settled,omitempty"`
	Visits         int                 `dynamo:"visits,omitempty"`
	EngagedSeconds int                 `dynamo:"engagedSeconds,omitempty"`
	Session        *sessionItem        `dynamo:"session,omitempty"`
	LastChannel    string              `dynamo:"lastChannel,omitempty"`
	Products       *productsItem       `dynamo:"products,omitempty"`
	Orders         []orderItem         `dynamo:"orders,omitempty"`
	OrderCount     int                 `dynamo:"orderCount,omitempty"`
	Revenue        float64             `dynamo:"revenue,omitempty"`
	Returns        *returnsItem        `dynamo:"returns,omitempty"`
	FirstOrder     *touchItem          `dynamo:"firstOrder,omitempty"`
	LastOrder      *touchItem          `dynamo:"lastOrder,omitempty"`
	Acquisition    *touchItem          `dynamo:"acquisition,omitempty"`
	Basket         *basketItem         `dynamo:"basket,omitempty"`
	Forms          map[string]formItem `dynamo:"forms,omitempty"`
	Cases          map[string]caseItem `dynamo:"cases,omitempty"`
	Impressions    *impressionsItem    `dynamo:"impressions,omitempty"`
}

type settledItem struct {
	Until          time.Time    `dynamo:"until,omitempty"`
	Campaign       campaignItem `dynamo:"campaign"`
	Channel        string       `dynamo:"channel,omitempty"`
	Visits         int          `dynamo:"visits,omitempty"`
	EngagedSeconds int          `dynamo:"engagedSeconds,omitempty"`
	Orders         int          `dynamo:"orders,omitempty"`
	Revenue        float64      `dynamo:"revenue,omitempty"`
	OrdersUntil    time.Time    `dynamo:"ordersUntil,omitempty"`
	FirstOrder     *touchItem   `dynamo:"firstOrder,omitempty"`
	LastOrder      *touchItem   `dynamo:"lastOrder,omitempty"`
}

// touchItem is a profile.Touch; absent for none.
type touchItem struct {
	At      time.Time `dynamo:"at"`
	Channel string    `dynamo:"channel"`
}

func touchItemOf(t profile.Touch) *touchItem {
	if t == (profile.Touch{}) {
		return nil
	}
	return &touchItem{At: t.At.UTC(), Channel: t.Channel}
}

func (it *touchItem) touch() profile.Touch {
	if it == nil {
		return profile.Touch{}
	}
	return profile.Touch{At: it.At, Channel: it.Channel}
}

type returnsItem struct {
	Count int     `dynamo:"count"`
	Value float64 `dynamo:"value"`
}

type sessionItem struct {
	ID             string        `dynamo:"id"`
	Start          time.Time     `dynamo:"start"`
	End            time.Time     `dynamo:"end"`
	Events         int           `dynamo:"events"`
	PageViews      int           `dynamo:"pageViews"`
	EngagedSeconds int           `dynamo:"engagedSeconds"`
	LandingPage    string        `dynamo:"landingPage,omitempty"`
	Channel        string        `dynamo:"channel,omitempty"`
	Campaign       *campaignItem `dynamo:"campaign,omitempty"`
}

type campaignItem struct {
	Source  string `dynamo:"source,omitempty"`
	Medium  string `dynamo:"medium,omitempty"`
	Name    string `dynamo:"name,omitempty"`
	ClickID string `dynamo:"clickId,omitempty"`
}

// productsItem holds the products' counts; last times are Unix seconds (profile.Products keeps
// them to the second), and items written before categories and last times read as without them.
type productsItem struct {
	Viewed     map[string]int   `dynamo:"viewed,omitempty"`
	Carted     map[string]int   `dynamo:"carted,omitempty"`
	Bought     map[string]int   `dynamo:"bought,omitempty"`
	Last       map[string]int64 `dynamo:"last,omitempty"`
	Categories *categoriesItem  `dynamo:"categories,omitempty"`
}

type categoriesItem struct {
	Viewed map[string]int   `dynamo:"viewed,omitempty"`
	Carted map[string]int   `dynamo:"carted,omitempty"`
	Bought map[string]int   `dynamo:"bought,omitempty"`
	Last   map[string]int64 `dynamo:"last,omitempty"`
}

func unixSeconds(m map[string]time.Time) map[string]int64 {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]int64, len(m))
	for k, t := range m {
		out[k] = t.Unix()
	}
	return out
}

func fromUnixSeconds(m map[string]int64) map[string]time.Time {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]time.Time, len(m))
	for k, s := range m {
		out[k] = time.Unix(s, 0).UTC()
	}
	return out
}

type orderItem struct {
	ID      string     `dynamo:"id"`
	At      time.Time  `dynamo:"at"`
	Revenue float64    `dynamo:"revenue"`
	Lines   []lineItem `dynamo:"lines,omitempty"`
	// Channel is absent for an online order (items written before channels read as online).
	Channel string `dynamo:"channel,omitempty"`
	Store   string `dynamo:"store,omitempty"`
}

type lineItem struct {
	ProductID string  `dynamo:"productId"`
	Quantity  int     `dynamo:"quantity"`
	Price     float64 `dynamo:"price,omitempty"`
	Category  string  `dynamo:"category,omitempty"`
}

type basketItem struct {
	Changes   []basketChangeItem `dynamo:"changes,omitempty"`
	ClearedAt time.Time          `dynamo:"clearedAt,omitempty"`
}

type basketChangeItem struct {
	At        time.Time `dynamo:"at"`
	ProductID string    `dynamo:"productId"`
	Quantity  int       `dynamo:"quantity"`
	Price     float64   `dynamo:"price,omitempty"`
}

type formItem struct {
	StartedAt   time.Time `dynamo:"startedAt,omitempty"`
	SubmittedAt time.Time `dynamo:"submittedAt,omitempty"`
}

// caseItem is a profile.Case.
type caseItem struct {
	OpenedAt  time.Time `dynamo:"openedAt"`
	ClosedAt  time.Time `dynamo:"closedAt,omitempty"`
	UpdatedAt time.Time `dynamo:"updatedAt"`
	Status    string    `dynamo:"status,omitempty"`
	StatusAt  time.Time `dynamo:"statusAt,omitempty"`
	Topic     string    `dynamo:"topic,omitempty"`
	TopicAt   time.Time `dynamo:"topicAt,omitempty"`
}

// impressionsItem is profile.Impressions.
type impressionsItem struct {
	Count  int                   `dynamo:"count"`
	First  time.Time             `dynamo:"first"`
	Last   time.Time             `dynamo:"last"`
	Groups []impressionGroupItem `dynamo:"groups,omitempty"`
	Other  int                   `dynamo:"other,omitempty"`
	Recent []impressionItem      `dynamo:"recent,omitempty"`
}

type impressionGroupItem struct {
	Kind     string    `dynamo:"kind"`
	Channel  string    `dynamo:"channel,omitempty"`
	Campaign string    `dynamo:"campaign,omitempty"`
	Count    int       `dynamo:"count"`
	First    time.Time `dynamo:"first"`
	Last     time.Time `dynamo:"last"`
}

type impressionItem struct {
	At       time.Time `dynamo:"at"`
	Kind     string    `dynamo:"kind"`
	Channel  string    `dynamo:"channel,omitempty"`
	Campaign string    `dynamo:"campaign,omitempty"`
	Event    string    `dynamo:"event,omitempty"`
}

func impressionsOf(im profile.Impressions) *impressionsItem {
	if im.IsZero() {
		return nil
	}
	out := &impressionsItem{Count: im.Count, First: im.First.UTC(), Last: im.Last.UTC(), Other: im.Other}
	for _, g := range im.Groups {
		out.Groups = append(out.Groups, impressionGroupItem{Kind: g.Kind, Channel: g.Channel, Campaign: g.Campaign,
			Count: g.Count, First: g.First.UTC(), Last: g.Last.UTC()})
	}
	for _, i := range im.Recent {
		out.Recent = append(out.Recent, impressionItem{At: i.At.UTC(), Kind: i.Kind, Channel: i.Channel, Campaign: i.Campaign, Event: i.Event})
	}
	return out
}

// impressions reads the item; a profile written before impressions were recorded has none.
func (it *impressionsItem) impressions() profile.Impressions {
	if it == nil {
		return profile.Impressions{}
	}
	im := profile.Impressions{Count: it.Count, First: it.First, Last: it.Last, Other: it.Other}
	for _, g := range it.Groups {
		im.Groups = append(im.Groups, profile.ImpressionGroup(g))
	}
	for _, i := range it.Recent {
		im.Recent = append(im.Recent, profile.Impression(i))
	}
	return im
}

// setAggregates adds the aggregate fields of p to a profile update; empty ones are removed.
func setAggregates(u *dynamo.Update, p profile.Profile) {
	a := aggregatesOf(p)
	setOrRemove(u, "hits", a.Hits, len(a.Hits))
	setOrRemove(u, "settled", a.Settled, count(a.Settled != nil))
	setOrRemove(u, "visits", a.Visits, a.Visits)
	setOrRemove(u, "engagedSeconds", a.EngagedSeconds, a.EngagedSeconds)
	setOrRemove(u, "session", a.Session, count(a.Session != nil))
	setOrRemove(u, "lastChannel", a.LastChannel, len(a.LastChannel))
	setOrRemove(u, "products", a.Products, count(a.Products != nil))
	setOrRemove(u, "orders", a.Orders, len(a.Orders))
	setOrRemove(u, "orderCount", a.OrderCount, a.OrderCount)
	setOrRemove(u, "revenue", a.Revenue, count(a.Revenue != 0))
	setOrRemove(u, "returns", a.Returns, count(a.Returns != nil))
	setOrRemove(u, "firstOrder", a.FirstOrder, count(a.FirstOrder != nil))
	setOrRemove(u, "lastOrder", a.LastOrder, count(a.LastOrder != nil))
	setOrRemove(u, "acquisition", a.Acquisition, count(a.Acquisition != nil))
	setOrRemove(u, "basket", a.Basket, count(a.Basket != nil))
	setOrRemove(u, "forms", a.Forms, len(a.Forms))
	setOrRemove(u, "cases", a.Cases, len(a.Cases))
	setOrRemove(u, "impressions", a.Impressions, count(a.Impressions != nil))
}

func count(b bool) int {
	if b {
		return 1
	}
	return 0
}

func aggregatesOf(p profile.Profile) aggregateFields {
	a := aggregateFields{
		Hits: hitList(p.Hits), Visits: p.Visits, EngagedSeconds: p.EngagedSeconds, LastChannel: p.LastChannel,
		OrderCount: p.OrderCount, Revenue: p.Revenue, Impressions: impressionsOf(p.Impressions),
		FirstOrder: touchItemOf(p.FirstOrder), LastOrder: touchItemOf(p.LastOrder), Acquisition: touchItemOf(p.Acquisition),
	}
	if p.Returns != (profile.Returns{}) {
		a.Returns = &returnsItem{Count: p.Returns.Count, Value: p.Returns.Value}
	}
	if st := p.Settled; st != (profile.Settled{}) {
		a.Settled = &settledItem{Until: st.Until.UTC(), Campaign: campaignItem(st.Campaign), Channel: st.Channel, Visits: st.Visits,
			EngagedSeconds: st.EngagedSeconds, Orders: st.Orders, Revenue: st.Revenue, OrdersUntil: st.OrdersUntil.UTC(),
			FirstOrder: touchItemOf(st.FirstOrder), LastOrder: touchItemOf(st.LastOrder)}
	}
	if s := p.Session; s != nil {
		a.Session = &sessionItem{ID: s.ID, Start: s.Start.UTC(), End: s.End.UTC(), Events: s.Events, PageViews: s.PageViews,
			EngagedSeconds: s.EngagedSeconds, LandingPage: s.LandingPage, Channel: s.Channel}
		if s.Campaign != nil {
			c := campaignItem(*s.Campaign)
			a.Session.Campaign = &c
		}
	}
	if ps := p.Products; len(ps.Viewed)+len(ps.Carted)+len(ps.Bought) > 0 {
		a.Products = &productsItem{Viewed: ps.Viewed, Carted: ps.Carted, Bought: ps.Bought, Last: unixSeconds(ps.Last)}
		if c := ps.Categories; len(c.Viewed)+len(c.Carted)+len(c.Bought) > 0 {
			a.Products.Categories = &categoriesItem{Viewed: c.Viewed, Carted: c.Carted, Bought: c.Bought, Last: unixSeconds(c.Last)}
		}
	}
	for _, o := range p.Orders {
		oi := orderItem{ID: o.ID, At: o.At.UTC(), Revenue: o.Revenue, Store: o.Store}
		if o.Channel != profile.ChannelOnline {
			oi.Channel = o.Channel
		}
		for _, l := range o.Lines {
			oi.Lines = append(oi.Lines, lineItem(l))
		}
		a.Orders = append(a.Orders, oi)
	}
	if b := p.Basket; len(b.Changes) > 0 || !b.ClearedAt.IsZero() {
		a.Basket = &basketItem{}
		if !b.ClearedAt.IsZero() {
			a.Basket.ClearedAt = b.ClearedAt.UTC()
		}
		for _, c := range b.Changes {
			a.Basket.Changes = append(a.Basket.Changes, basketChangeItem{At: c.At.UTC(), ProductID: c.ProductID, Quantity: c.Quantity, Price: c.Price})
		}
	}
	if len(p.Forms) > 0 {
		a.Forms = map[string]formItem{}
		for id, f := range p.Forms {
			fi := formItem{}
			if !f.StartedAt.IsZero() {
				fi.StartedAt = f.StartedAt.UTC()
			}
			if !f.SubmittedAt.IsZero() {
				fi.SubmittedAt = f.SubmittedAt.UTC()
			}
			a.Forms[id] = fi
		}
	}
	if len(p.Cases) > 0 {
		a.Cases = make(map[string]caseItem, len(p.Cases))
		for id, c := range p.Cases {
			a.Cases[id] = caseItem{OpenedAt: c.OpenedAt.UTC(), ClosedAt: utcOrZero(c.ClosedAt), UpdatedAt: c.UpdatedAt.UTC(), Status: c.Status,
				StatusAt: utcOrZero(c.StatusAt), Topic: c.Topic, TopicAt: utcOrZero(c.TopicAt)}
		}
	}
	return a
}

// utcOrZero is t in UTC, and the zero time (which DynamoDB items leave out) as it is.
func utcOrZero(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC()
}

// fill sets the aggregate fields of p from the item's.
func (a aggregateFields) fill(p *profile.Profile) {
	p.Hits, p.Visits, p.EngagedSeconds, p.LastChannel = []profile.Hit(a.Hits), a.Visits, a.EngagedSeconds, a.LastChannel
	p.OrderCount, p.Revenue = a.OrderCount, a.Revenue
	p.FirstOrder, p.LastOrder, p.Acquisition = a.FirstOrder.touch(), a.LastOrder.touch(), a.Acquisition.touch()
	if r := a.Returns; r != nil {
		p.Returns = profile.Returns{Count: r.Count, Value: r.Value}
	}
	p.Impressions = a.Impressions.impressions()
	if st := a.Settled; st != nil {
		p.Settled = profile.Settled{Until: st.Until, Campaign: profile.Campaign(st.Campaign), Channel: st.Channel, Visits: st.Visits,
			EngagedSeconds: st.EngagedSeconds, Orders: st.Orders, Revenue: st.Revenue, OrdersUntil: st.OrdersUntil,
			FirstOrder: st.FirstOrder.touch(), LastOrder: st.LastOrder.touch()}
	}
	if s := a.Session; s != nil {
		p.Session = &profile.Session{ID: s.ID, Start: s.Start, End: s.End, Events: s.Events, PageViews: s.PageViews,
			EngagedSeconds: s.EngagedSeconds, LandingPage: s.LandingPage, Channel: s.Channel}
		if s.Campaign != nil {
			c := profile.Campaign(*s.Campaign)
			p.Session.Campaign = &c
		}
	}
	if ps := a.Products; ps != nil {
		p.Products = profile.Products{Viewed: ps.Viewed, Carted: ps.Carted, Bought: ps.Bought, Last: fromUnixSeconds(ps.Last)}
		if c := ps.Categories; c != nil {
			p.Products.Categories = profile.Categories{Viewed: c.Viewed, Carted: c.Carted, Bought: c.Bought, Last: fromUnixSeconds(c.Last)}
		}
	}
	for _, o := range a.Orders {
		po := profile.Order{ID: o.ID, At: o.At, Revenue: o.Revenue, Channel: cmp.Or(o.Channel, profile.ChannelOnline), Store: o.Store}
		for _, l := range o.Lines {
			po.Lines = append(po.Lines, profile.Line(l))
		}
		p.Orders = append(p.Orders, po)
	}
	if b := a.Basket; b != nil {
		p.Basket.ClearedAt = b.ClearedAt
		for _, c := range b.Changes {
			p.Basket.Changes = append(p.Basket.Changes, profile.BasketChange{At: c.At, ProductID: c.ProductID, Quantity: c.Quantity, Price: c.Price})
		}
	}
	if len(a.Forms) > 0 {
		p.Forms = make(map[string]profile.Form, len(a.Forms))
		for id, f := range a.Forms {
			p.Forms[id] = profile.Form{StartedAt: f.StartedAt, SubmittedAt: f.SubmittedAt}
		}
	}
	if len(a.Cases) > 0 {
		p.Cases = make(map[string]profile.Case, len(a.Cases))
		for id, c := range a.Cases {
			p.Cases[id] = profile.Case(c)
		}
	}
}

// hitList is the activity window as one binary attribute: a format byte, a table of the distinct
// strings, the number of hits, then per hit (sorted by time) the seconds since the previous hit (a
// signed varint; the first since the Unix epoch) and a flags byte saying what follows: the
// milliseconds or the nanoseconds, the engaged seconds (when not zero), and the string-table
// indexes of its channel, page and campaign tags (each only when not empty). A typical hit (a
// page view with a channel, no campaign) takes about six bytes. Format 1, which wrote every field of
// every hit (about twice the bytes), is still read.
type hitList []profile.Hit

const (
	hitsFormatV1 = 1
	hitsFormat   = 2
)

// The flags byte of a hit in format 2.
const (
	hitPageView    = 1 << iota
	hitMillis      // the nanoseconds are whole milliseconds, written as milliseconds
	hitEngaged     // engaged seconds follow
	hitChannel     // a channel index follows
	hitPage        // a page index follows
	hitCampaign    // a byte of campaign flags follows: bit i, the i-th of source, medium, name, click id
	hitFlagsUnused = ^byte(1<<iota - 1)
)

var errBadHits = errors.New("malformed hits attribute")

func (h hitList) MarshalDynamo() (types.AttributeValue, error) {
	if len(h) == 0 {
		return nil, nil
	}
	index := map[string]uint64{"": 0}
	table := []string{""}
	idx := func(s string) uint64 {
		i, ok := index[s]
		if !ok {
			i = uint64(len(table))
			index[s] = i
			table = append(table, s)
		}
		return i
	}
	var body []byte
	var prev int64
	for _, hit := range h {
		sec := hit.At.Unix()
		body = binary.AppendVarint(body, sec-prev)
		prev = sec
		tags := [...]string{hit.Campaign.Source, hit.Campaign.Medium, hit.Campaign.Name, hit.Campaign.ClickID}
		var campaign byte
		for i, tag := range tags {
			campaign |= flagIf(tag != "", 1<<i)
		}
		flags := flagIf(hit.PageView, hitPageView) | flagIf(hit.At.Nanosecond()%1e6 == 0, hitMillis) |
			flagIf(hit.Engaged > 0, hitEngaged) | flagIf(hit.Channel != "", hitChannel) | flagIf(hit.Page != "", hitPage) |
			flagIf(campaign != 0, hitCampaign)
		body = append(body, flags)
		if flags&hitMillis != 0 {
			body = binary.AppendUvarint(body, uint64(hit.At.Nanosecond()/1e6))
		} else {
			body = binary.AppendUvarint(body, uint64(hit.At.Nanosecond()))
		}
		if flags&hitEngaged != 0 {
			body = binary.AppendUvarint(body, uint64(hit.Engaged))
		}
		if flags&hitChannel != 0 {
			body = binary.AppendUvarint(body, idx(hit.Channel))
		}
		if flags&hitPage != 0 {
			body = binary.AppendUvarint(body, idx(hit.Page))
		}
		if flags&hitCampaign != 0 {
			body = append(body, campaign)
			for _, tag := range tags {
				if tag != "" {
					body = binary.AppendUvarint(body, idx(tag))
				}
			}
		}
	}
	out := []byte{hitsFormat}
	out = binary.AppendUvarint(out, uint64(len(table)-1))
	for _, s := range table[1:] {
		out = binary.AppendUvarint(out, uint64(len(s)))
		out = append(out, s...)
	}
	out = binary.AppendUvarint(out, uint64(len(h)))
	out = append(out, body...)
	return &types.AttributeValueMemberB{Value: out}, nil
}

func flagIf(on bool, flag byte) byte {
	if on {
		return flag
	}
	return 0
}

func (h *hitList) UnmarshalDynamo(av types.AttributeValue) error {
	b, ok := av.(*types.AttributeValueMemberB)
	if !ok {
		return fmt.Errorf("%w: not binary", errBadHits)
	}
	r := &reader{buf: b.Value}
	format := r.byte()
	if format != hitsFormat && format != hitsFormatV1 {
		return fmt.Errorf("%w: format %d", errBadHits, format)
	}
	table := []string{""}
	for n := r.uvarint(); n > 0 && r.err == nil; n-- {
		table = append(table, r.str())
	}
	str := func() string {
		i := r.uvarint()
		if i >= uint64(len(table)) {
			r.fail()
			return ""
		}
		return table[i]
	}
	n := r.uvarint()
	if n > uint64(len(r.buf)) { // every hit takes at least one byte
		r.fail()
	}
	read := r.hitV2
	if format == hitsFormatV1 {
		read = r.hitV1
	}
	out := make(hitList, 0, min(n, profile.MaxHits*2))
	var sec int64
	for i := uint64(0); i < n && r.err == nil; i++ {
		sec += r.varint()
		hit := read(sec, str)
		out = append(out, hit)
	}
	if r.err != nil {
		return r.err
	}
	*h = out
	return nil
}

// hitV2 reads a hit of format 2 after its seconds.
func (r *reader) hitV2(sec int64, str func() string) profile.Hit {
	flags := r.byte()
	if flags&hitFlagsUnused != 0 {
		r.fail()
	}
	nsec := r.uvarint()
	if flags&hitMillis != 0 {
		nsec *= 1e6
	}
	if nsec >= 1e9 {
		r.fail()
	}
	hit := profile.Hit{At: time.Unix(sec, int64(nsec)).UTC(), PageView: flags&hitPageView != 0}
	if flags&hitEngaged != 0 {
		hit.Engaged = int(min(r.uvarint(), 1<<31))
	}
	if flags&hitChannel != 0 {
		hit.Channel = str()
	}
	if flags&hitPage != 0 {
		hit.Page = str()
	}
	if flags&hitCampaign != 0 {
		campaign := r.byte()
		var tags [4]string
		for i := range tags {
			if campaign&(1<<i) != 0 {
				tags[i] = str()
			}
		}
		if campaign>>len(tags) != 0 {
			r.fail()
		}
		hit.Campaign = profile.Campaign{Source: tags[0], Medium: tags[1], Name: tags[2], ClickID: tags[3]}
	}
	return hit
}

// hitV1 reads a hit of format 1 after its seconds: the nanoseconds, a flags byte (1: page view),
// the engaged seconds, and the indexes of its campaign source, medium, name, click id, channel
// and page.
func (r *reader) hitV1(sec int64, str func() string) profile.Hit {
	nsec := r.uvarint()
	if nsec >= 1e9 {
		r.fail()
	}
	hit := profile.Hit{At: time.Unix(sec, int64(nsec)).UTC()}
	hit.PageView = r.byte()&1 == 1
	hit.Engaged = int(min(r.uvarint(), 1<<31))
	hit.Campaign = profile.Campaign{Source: str(), Medium: str(), Name: str(), ClickID: str()}
	hit.Channel, hit.Page = str(), str()
	return hit
}

type reader struct {
	buf []byte
	err error
}

func (r *reader) fail() {
	if r.err == nil {
		r.err = fmt.Errorf("%w: truncated or out of range", errBadHits)
	}
	r.buf = nil
}

func (r *reader) byte() byte {
	if len(r.buf) == 0 {
		r.fail()
		return 0
	}
	b := r.buf[0]
	r.buf = r.buf[1:]
	return b
}

func (r *reader) uvarint() uint64 {
	v, n := binary.Uvarint(r.buf)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.buf = r.buf[n:]
	return v
}

func (r *reader) varint() int64 {
	v, n := binary.Varint(r.buf)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.buf = r.buf[n:]
	return v
}

func (r *reader) str() string {
	n := r.uvarint()
	if n > uint64(len(r.buf)) {
		r.fail()
		return ""
	}
	s := string(r.buf[:n])
	r.buf = r.buf[n:]
	return s
}
