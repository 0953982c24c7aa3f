package profile

import (
	"cmp"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/dcrm-project/dcrm/shared/beacon"
)

// Commerce and forms.
//
// Products, orders and the basket come from the track events of the Segment e-commerce spec:
// "Product Viewed", "Product Added", "Product Removed" and "Order Completed", naming products by
// properties.product_id (or productId) or in properties.products[] (each with product_id,
// quantity, price). Forms come from "Form Started" and "Form Submitted" with properties.formId
// (or form_id, form_name). Event names match without regard to case, spaces, underscores or
// hyphens ("order_completed" is "Order Completed").
//
//   - Products viewed, carted and bought are counts per product id, at most MaxProducts each: when
//     a new product does not fit, the least counted (of equal counts, the greatest id) is dropped,
//     so a product's count restarts if it comes back after being dropped. Products.Last says when
//     each viewed or carted product was last viewed or carted (event time, to the second), so that
//     interest can fade with time; when bought is read from the orders. Products name their
//     category as the e-commerce spec does (properties.category, or products[].category), and
//     Products.Categories counts categories the same way (at most MaxCategories each).
//   - An order counts once per order_id (an order without one is its own order). Revenue is
//     properties.revenue, else properties.total (numbers or numeric strings; the currency is not
//     converted). Its sales channel is properties.channel as sent, lower case ("store", "phone",
//     "mail" …; imported offline orders say it), else ChannelOnline; "web", "app" and the like
//     are online too (Online). properties.store (or store_id) names the store. FirstOrder and
//     LastOrder are the earliest and latest orders' times and channels, settled orders included.
//   - "Order Refunded" (a return or a refund, properties.order_id) is worth properties.revenue,
//     else properties.total, else the sum of its products' price × quantity, as a positive amount
//     whatever its sign. Returns counts them and sums their value; Revenue is net of them. Each
//     refund event counts (the engine already counts a message once), so two systems reporting
//     one refund under two message ids count it twice; the products bought are left as they were.
//   - The latest MaxOrders orders are kept to recognise repeats; older ones are settled, and a
//     repeat of a settled order counts again. The kept orders list their products (lines) newest
//     first until these take MaxOrderLineBytes; older kept orders keep their id, time
//     and revenue without their lines (their products still count among those bought), so that
//     large orders cannot grow the profile past what storage takes. Of two occurrences of one order id
//     (a browser and a server both reporting it) the earlier is kept (of equal times, the one with
//     the greater revenue, then the more products); its revenue and products are the order's.
//   - The open basket is what was added and removed after the latest order (by event time): the
//     latest MaxBasketChanges changes are kept; quantities are summed per product (items at zero
//     or below are not in the basket) and priced at their latest price.
//   - A form is open when it was last started after it was last submitted; at most MaxForms forms
//     are remembered, the least recently used dropped first.
const (
	MaxProducts      = 50
	MaxCategories    = 50
	MaxOrders        = 100
	MaxBasketChanges = 100
	MaxForms         = 20
	// MaxOrderLineBytes bounds the lines the kept orders list, by lineBytes.
	MaxOrderLineBytes = 64 << 10
)

// Event names of the track events a profile reads, normalised (see eventKey).
const (
	eventPagePing       = "pageping"
	eventProductViewed  = "productviewed"
	eventProductAdded   = "productadded"
	eventProductRemoved = "productremoved"
	eventOrderCompleted = "ordercompleted"
	eventOrderRefunded  = "orderrefunded"
	eventFormStarted    = "formstarted"
	eventFormSubmitted  = "formsubmitted"
)

// EventKey is an event name as events are matched by name: in lower case, without spaces,
// underscores, hyphens or tabs ("Order Completed" and "order_completed" are one name); "" for a
// name longer than 64 bytes.
func EventKey(name string) string { return eventKey(name) }

// eventKey normalises a track event's name: lower case, without spaces, underscores or hyphens.
func eventKey(name string) string {
	if len(name) > 64 {
		return ""
	}
	return strings.Map(func(r rune) rune {
		switch r {
		case ' ', '_', '-', '\t':
			return -1
		}
		return r
	}, strings.ToLower(name))
}

// IsPurchase tells whether an activity is an order: an "Order Completed" track event, its name
// in any of the spellings eventKey folds together ("order_completed", "order-completed" …).
func IsPurchase(a Activity) bool {
	return a.Type == beacon.Track && eventKey(a.Event) == eventOrderCompleted
}

// IsRefund tells whether an activity is a refund or a return: an "Order Refunded" track event.
func IsRefund(a Activity) bool {
	return a.Type == beacon.Track && eventKey(a.Event) == eventOrderRefunded
}

// Line is a product an event names.
type Line struct {
	ProductID string
	Quantity  int     // at least 1
	Price     float64 // 0 when not given
	Category  string  // "" when not given
}

// Products are the products a customer viewed, put in a basket and bought, with how often, and
// the same for their categories.
type Products struct {
	Viewed map[string]int `json:"viewed,omitempty"`
	Carted map[string]int `json:"carted,omitempty"`
	Bought map[string]int `json:"bought,omitempty"`
	// Last is when each product in Viewed or Carted was last viewed or carted.
	Last       map[string]time.Time `json:"last,omitempty"`
	Categories Categories           `json:"categories,omitzero"`
}

// Categories are the product categories a customer viewed, put in a basket and bought, with how
// often (a view counts 1, a basket addition or a purchase its quantity).
type Categories struct {
	Viewed map[string]int `json:"viewed,omitempty"`
	Carted map[string]int `json:"carted,omitempty"`
	Bought map[string]int `json:"bought,omitempty"`
	// Last is when each category in Viewed or Carted was last viewed or carted.
	Last map[string]time.Time `json:"last,omitempty"`
}

func (ps Products) clone() Products {
	c := ps.Categories
	return Products{Viewed: maps.Clone(ps.Viewed), Carted: maps.Clone(ps.Carted), Bought: maps.Clone(ps.Bought), Last: maps.Clone(ps.Last),
		Categories: Categories{Viewed: maps.Clone(c.Viewed), Carted: maps.Clone(c.Carted), Bought: maps.Clone(c.Bought), Last: maps.Clone(c.Last)}}
}

// tally is one set of counts (products or categories) and its bound.
type tally struct {
	viewed, carted, bought *map[string]int
	last                   *map[string]time.Time
	limit                  int
}

func (ps *Products) products() tally {
	return tally{&ps.Viewed, &ps.Carted, &ps.Bought, &ps.Last, MaxProducts}
}

func (ps *Products) categories() tally {
	c := &ps.Categories
	return tally{&c.Viewed, &c.Carted, &c.Bought, &c.Last, MaxCategories}
}

// add adds n to a key's count in m (one of t's maps), keeping at most t.limit keys, and for views
// and basket additions (at not zero) moves the key's last time to at if that is later.
func (t tally) add(m *map[string]int, key string, n int, at time.Time) {
	if key == "" || n <= 0 {
		return
	}
	*m = countProduct(*m, key, n, t.limit)
	if _, kept := (*m)[key]; kept && !at.IsZero() {
		at = at.Truncate(time.Second).UTC()
		if *t.last == nil {
			*t.last = map[string]time.Time{}
		}
		if at.After((*t.last)[key]) {
			(*t.last)[key] = at
		}
	}
	t.prune()
}

// remove takes n from a key's bought count.
func (t tally) remove(key string, n int) {
	if c, ok := (*t.bought)[key]; ok {
		if c <= n {
			delete(*t.bought, key)
		} else {
			(*t.bought)[key] = c - n
		}
	}
}

// prune drops the last times of keys no longer viewed or carted.
func (t tally) prune() {
	for k := range *t.last {
		if _, v := (*t.viewed)[k]; !v {
			if _, c := (*t.carted)[k]; !c {
				delete(*t.last, k)
			}
		}
	}
}

// countProduct adds n to a key's count, keeping at most limit keys.
func countProduct(m map[string]int, id string, n, limit int) map[string]int {
	if id == "" || n <= 0 {
		return m
	}
	if m == nil {
		m = map[string]int{}
	}
	m[id] += n
	for len(m) > limit {
		var drop string
		for k, v := range m {
			if drop == "" || v < m[drop] || (v == m[drop] && k > drop) {
				drop = k
			}
		}
		delete(m, drop)
	}
	return m
}

// ChannelOnline is the sales channel of an order that names none: one placed on a site or an app.
const ChannelOnline = "online"

// onlineChannels are the sales channels of orders placed on a site or an app, as shops and the
// import name them.
var onlineChannels = map[string]bool{"": true, ChannelOnline: true, "web": true, "website": true, "app": true, "mobile": true, "ecommerce": true}

// Online tells whether a sales channel is a site's or an app's.
func Online(salesChannel string) bool { return onlineChannels[salesChannel] }

// Order is a completed order.
type Order struct {
	ID      string
	At      time.Time
	Revenue float64
	Lines   []Line // the products bought
	Channel string // the sales channel: ChannelOnline, "store", "phone" …
	Store   string // the store, for an order placed in one ("" when not said)
}

// Touch is when something happened on a channel: the first touch of a customer (Acquisition), or
// their first and last orders.
type Touch struct {
	At      time.Time `json:"at"`
	Channel string    `json:"channel"`
}

// first keeps the earlier of t and c (of equal times, the lesser channel); a touch without a
// channel is no touch.
func (t *Touch) first(c Touch) {
	if c.Channel == "" || c.At.IsZero() {
		return
	}
	if t.Channel == "" || c.At.Before(t.At) || (c.At.Equal(t.At) && c.Channel < t.Channel) {
		*t = c
	}
}

// last keeps the later of t and c (of equal times, the greater channel).
func (t *Touch) last(c Touch) {
	if c.Channel == "" || c.At.IsZero() {
		return
	}
	if t.Channel == "" || c.At.After(t.At) || (c.At.Equal(t.At) && c.Channel > t.Channel) {
		*t = c
	}
}

// Returns are the refunds and returns a customer had: how many and their value.
type Returns struct {
	Count int     `json:"count"`
	Value float64 `json:"value"`
}

// preferred tells whether occurrence a of an order is kept over occurrence b.
func preferred(a, b Order) bool {
	if c := cmp.Or(b.At.Compare(a.At), cmp.Compare(a.Revenue, b.Revenue), cmp.Compare(len(a.Lines), len(b.Lines)),
		cmp.Compare(a.Channel, b.Channel), cmp.Compare(a.Store, b.Store)); c != 0 {
		return c > 0
	}
	return slices.CompareFunc(a.Lines, b.Lines, func(x, y Line) int {
		return cmp.Or(cmp.Compare(x.ProductID, y.ProductID), cmp.Compare(x.Quantity, y.Quantity), cmp.Compare(x.Price, y.Price),
			cmp.Compare(x.Category, y.Category))
	}) > 0
}

// bought adds (sign 1) or takes away (sign -1) an order's products and their categories from
// those bought.
func (p *Profile) bought(o Order, sign int) {
	prods, cats := p.Products.products(), p.Products.categories()
	for _, l := range o.Lines {
		if sign > 0 {
			prods.add(prods.bought, l.ProductID, l.Quantity, time.Time{})
			cats.add(cats.bought, l.Category, l.Quantity, time.Time{})
			continue
		}
		prods.remove(l.ProductID, l.Quantity)
		cats.remove(l.Category, l.Quantity)
	}
}

func compareOrders(a, b Order) int {
	return cmp.Or(a.At.Compare(b.At), cmp.Compare(a.ID, b.ID))
}

// addOrder records an order, keeping the preferred occurrence of a repeated order id and the
// products bought in step with the kept occurrences. counted says that o's products are among the
// products bought already (o comes from a profile being folded in).
func (p *Profile) addOrder(o Order, counted bool) {
	if i := slices.IndexFunc(p.Orders, func(k Order) bool { return k.ID == o.ID }); i >= 0 {
		kept := p.Orders[i]
		if !preferred(o, kept) {
			if counted {
				p.bought(o, -1)
			}
			return
		}
		p.bought(kept, -1)
		if !counted {
			p.bought(o, 1)
		}
		p.Orders = slices.Delete(p.Orders, i, i+1)
		p.insertOrder(o)
		return
	}
	if !counted {
		p.bought(o, 1)
	}
	if !p.Settled.OrdersUntil.IsZero() && !o.At.After(p.Settled.OrdersUntil) {
		p.Settled.settle(o)
		return
	}
	p.insertOrder(o)
}

func (p *Profile) insertOrder(o Order) {
	i, _ := slices.BinarySearchFunc(p.Orders, o, compareOrders)
	p.Orders = slices.Insert(p.Orders, i, o)
	p.settleOrders(MaxOrders)
	p.boundOrderLines()
}

// settleOrders settles the oldest orders until at most limit are kept.
func (p *Profile) settleOrders(limit int) {
	for len(p.Orders) > limit {
		old := p.Orders[0]
		p.Settled.settle(old)
		p.Settled.OrdersUntil = old.At
		p.Orders = p.Orders[1:]
	}
}

// settle counts an order among the settled ones.
func (s *Settled) settle(o Order) {
	s.Orders++
	s.Revenue += o.Revenue
	s.FirstOrder.first(Touch{At: o.At, Channel: o.Channel})
	s.LastOrder.last(Touch{At: o.At, Channel: o.Channel})
}

// boundOrderLines keeps the lines of the newest orders up to MaxOrderLineBytes, and drops those of
// older ones.
func (p *Profile) boundOrderLines() {
	n := 0
	for i := len(p.Orders) - 1; i >= 0; i-- {
		for _, l := range p.Orders[i].Lines {
			n += lineBytes(l)
		}
		if n > MaxOrderLineBytes {
			p.Orders[i].Lines = nil
		}
	}
}

// lineBytes is about what a line takes on the profile: its ids and its numbers.
func lineBytes(l Line) int { return len(l.ProductID) + len(l.Category) + 32 }

// deriveOrders computes the order count, the revenue net of returns, and the first and last
// orders.
func (p *Profile) deriveOrders() {
	p.OrderCount, p.Revenue = p.Settled.Orders, p.Settled.Revenue-p.Returns.Value
	p.FirstOrder, p.LastOrder = p.Settled.FirstOrder, p.Settled.LastOrder
	for _, o := range p.Orders {
		p.OrderCount++
		p.Revenue += o.Revenue
		p.FirstOrder.first(Touch{At: o.At, Channel: o.Channel})
		p.LastOrder.last(Touch{At: o.At, Channel: o.Channel})
	}
	p.Revenue = math.Round(p.Revenue*1e6) / 1e6 // sums of cents stay cents
}

// BasketChange is a product put into (Quantity > 0) or taken out of (Quantity < 0) the basket.
type BasketChange struct {
	At        time.Time
	ProductID string
	Quantity  int
	Price     float64
}

func compareChanges(a, b BasketChange) int {
	return cmp.Or(a.At.Compare(b.At), cmp.Compare(a.ProductID, b.ProductID), cmp.Compare(a.Quantity, b.Quantity),
		cmp.Compare(a.Price, b.Price))
}

// Basket is the basket changes since the latest order.
type Basket struct {
	Changes   []BasketChange // sorted by time, all after ClearedAt, at most MaxBasketChanges
	ClearedAt time.Time      // the latest order; zero before the first
}

func (b *Basket) change(c BasketChange) {
	if c.ProductID == "" || !c.At.After(b.ClearedAt) {
		return
	}
	i, _ := slices.BinarySearchFunc(b.Changes, c, compareChanges)
	b.Changes = slices.Insert(b.Changes, i, c)
	if n := len(b.Changes) - MaxBasketChanges; n > 0 {
		b.Changes = slices.Clone(b.Changes[n:])
	}
}

func (b *Basket) clear(at time.Time) {
	if !at.After(b.ClearedAt) {
		return
	}
	b.ClearedAt = at
	b.Changes = slices.DeleteFunc(b.Changes, func(c BasketChange) bool { return !c.At.After(at) })
}

// BasketItem is a product in the open basket.
type BasketItem struct {
	ProductID string  `json:"productId"`
	Quantity  int     `json:"quantity"`
	Price     float64 `json:"price,omitempty"`
}

// OpenBasket is the basket as triggers and the profile API see it.
type OpenBasket struct {
	Items     []BasketItem `json:"items"` // by product id
	Value     float64      `json:"value"`
	UpdatedAt time.Time    `json:"updatedAt"`
}

// Open returns the open basket, or nil when it is empty.
func (b Basket) Open() *OpenBasket {
	items := map[string]*BasketItem{}
	var updated time.Time
	for _, c := range b.Changes {
		it := items[c.ProductID]
		if it == nil {
			it = &BasketItem{ProductID: c.ProductID}
			items[c.ProductID] = it
		}
		it.Quantity += c.Quantity
		if c.Quantity > 0 && c.Price != 0 {
			it.Price = c.Price
		}
		updated = c.At
	}
	out := &OpenBasket{UpdatedAt: updated}
	for _, id := range slices.Sorted(maps.Keys(items)) {
		if it := items[id]; it.Quantity > 0 {
			out.Items = append(out.Items, *it)
			out.Value += float64(it.Quantity) * it.Price
		}
	}
	if len(out.Items) == 0 {
		return nil
	}
	out.Value = math.Round(out.Value*1e6) / 1e6
	return out
}

// Form is when a form was last started and last submitted (zero if never).
type Form struct {
	StartedAt   time.Time
	SubmittedAt time.Time
}

func (f Form) used() time.Time {
	if f.SubmittedAt.After(f.StartedAt) {
		return f.SubmittedAt
	}
	return f.StartedAt
}

// OpenForm is a form started and not submitted since.
type OpenForm struct {
	FormID    string    `json:"formId"`
	StartedAt time.Time `json:"startedAt"`
}

func (p *Profile) form(id string, f Form) {
	if id == "" {
		return
	}
	if p.Forms == nil {
		p.Forms = map[string]Form{}
	}
	cur := p.Forms[id]
	if f.StartedAt.After(cur.StartedAt) {
		cur.StartedAt = f.StartedAt
	}
	if f.SubmittedAt.After(cur.SubmittedAt) {
		cur.SubmittedAt = f.SubmittedAt
	}
	p.Forms[id] = cur
	p.trimForms(MaxForms)
}

// trimForms drops the forms least recently used until at most limit are left.
func (p *Profile) trimForms(limit int) {
	for len(p.Forms) > limit {
		var drop string
		for k, v := range p.Forms {
			if d := p.Forms[drop]; drop == "" || v.used().Before(d.used()) || (v.used().Equal(d.used()) && k > drop) {
				drop = k
			}
		}
		delete(p.Forms, drop)
	}
}

// OpenForms returns the forms started and not submitted since, by start time.
func (p Profile) OpenForms() []OpenForm {
	var out []OpenForm
	for id, f := range p.Forms {
		if f.StartedAt.After(f.SubmittedAt) {
			out = append(out, OpenForm{FormID: id, StartedAt: f.StartedAt})
		}
	}
	slices.SortFunc(out, func(a, b OpenForm) int {
		return cmp.Or(a.StartedAt.Compare(b.StartedAt), cmp.Compare(a.FormID, b.FormID))
	})
	return out
}

// applyCommerce records what a track event says about products, orders, the basket and forms.
func (p *Profile) applyCommerce(a Activity) {
	prods, cats := p.Products.products(), p.Products.categories()
	switch eventKey(a.Event) {
	case eventProductViewed:
		for _, l := range a.Products {
			prods.add(prods.viewed, l.ProductID, 1, a.At)
			cats.add(cats.viewed, l.Category, 1, a.At)
		}
	case eventProductAdded:
		for _, l := range a.Products {
			prods.add(prods.carted, l.ProductID, l.Quantity, a.At)
			cats.add(cats.carted, l.Category, l.Quantity, a.At)
			p.Basket.change(BasketChange{At: a.At, ProductID: l.ProductID, Quantity: l.Quantity, Price: l.Price})
		}
	case eventProductRemoved:
		for _, l := range a.Products {
			p.Basket.change(BasketChange{At: a.At, ProductID: l.ProductID, Quantity: -l.Quantity, Price: l.Price})
		}
	case eventOrderCompleted:
		id := a.OrderID
		if id == "" {
			id = "message:" + a.MessageID
		}
		p.addOrder(Order{ID: id, At: a.At, Revenue: a.Revenue, Lines: slices.Clone(a.Products), Channel: cmp.Or(a.SalesChannel, ChannelOnline),
			Store: a.Store}, false)
		p.Basket.clear(a.At)
		p.deriveOrders()
	case eventOrderRefunded:
		p.Returns.Count++
		p.Returns.Value = math.Round((p.Returns.Value+a.Revenue)*1e6) / 1e6
		p.deriveOrders()
	case eventFormStarted:
		p.form(a.FormID, Form{StartedAt: a.At})
	case eventFormSubmitted:
		p.form(a.FormID, Form{SubmittedAt: a.At})
	}
}

// foldCommerce adds another profile's products, orders, basket and forms to p's.
func (p *Profile) foldCommerce(from Profile) {
	src := from.Products.clone()
	for _, pair := range [][2]tally{{p.Products.products(), src.products()}, {p.Products.categories(), src.categories()}} {
		into, from := pair[0], pair[1]
		for _, m := range [][2]*map[string]int{{into.viewed, from.viewed}, {into.carted, from.carted}, {into.bought, from.bought}} {
			for _, k := range slices.Sorted(maps.Keys(*m[1])) {
				var at time.Time // purchases leave Last alone
				if m[0] != into.bought {
					at = (*from.last)[k]
				}
				into.add(m[0], k, (*m[1])[k], at)
			}
		}
	}
	p.Settled.Orders += from.Settled.Orders
	p.Settled.Revenue += from.Settled.Revenue
	p.Settled.FirstOrder.first(from.Settled.FirstOrder)
	p.Settled.LastOrder.last(from.Settled.LastOrder)
	p.Returns.Count += from.Returns.Count
	p.Returns.Value = math.Round((p.Returns.Value+from.Returns.Value)*1e6) / 1e6
	if from.Settled.OrdersUntil.After(p.Settled.OrdersUntil) {
		p.Settled.OrdersUntil = from.Settled.OrdersUntil
	}
	for _, o := range from.Orders {
		p.addOrder(o, true)
	}
	p.deriveOrders()
	p.Basket.clear(from.Basket.ClearedAt)
	for _, c := range from.Basket.Changes {
		p.Basket.change(c)
	}
	for _, id := range slices.Sorted(maps.Keys(from.Forms)) {
		p.form(id, from.Forms[id])
	}
}
