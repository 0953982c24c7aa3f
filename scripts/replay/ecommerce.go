package main

import (
	"errors"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"time"
)

// EcommerceDataset is the folder of the dbt-snowplow-ecommerce integration events, relative to the
// repository root: the atomic events and one file per entity, joined on root_id = event_id.
const EcommerceDataset = "../shared/datasets/events/snowplow_ecommerce"

// EcommerceEvents is the atomic events file of an e-commerce folder.
const EcommerceEvents = "snowplow_ecommerce_events.csv"

// Product is a product entity of an event.
type Product struct {
	ID       string
	Name     string
	Category string
	Brand    string
	Currency string
	Price    float64
	Quantity int // 0 when the event does not say
}

// Transaction is the transaction entity of an event.
type Transaction struct {
	ID       string
	Currency string
	Revenue  float64 // the order's total: in this set its products plus shipping
	Shipping float64
	Tax      float64
}

// EcomEvent is one event of the Snowplow e-commerce set with the entities it carries. Its Row takes
// the user id of the e-commerce user entity when the atomic user_id is empty, and for app events,
// which have no domain_userid or domain_sessionid, the client session's user id (the app install)
// and session id.
type EcomEvent struct {
	Row
	// Action is the snowplow_ecommerce_action type: product_view, list_view, list_click,
	// add_to_cart, remove_from_cart, checkout_step, transaction, refund, promo_view, promo_click;
	// "" when the event carries none.
	Action      string
	List        string // the action's name: the list a list view shows
	Products    []Product
	Transaction *Transaction
	Email       string // the e-commerce user's email
	Step        int    // the checkout step
	PageType    string // the e-commerce page type: homepage, checkout step 1, order complete …
	Screen      string // the app screen's name
}

// entityFile is one entity file of the set: the columns it must have and how a record of it
// completes its event.
type entityFile struct {
	name  string
	need  []string
	apply func(e *EcomEvent, get func(string) string) error
}

// errTwice is returned for a second entity of a kind an event carries at most once.
var errTwice = errors.New("a second entity of a kind the event carries once")

var entityFiles = []entityFile{
	{"com_snowplowanalytics_snowplow_ecommerce_action_1.csv", []string{"type", "name"}, func(e *EcomEvent, get func(string) string) error {
		if e.Action != "" {
			return errTwice
		}
		e.Action, e.List = get("type"), get("name")
		return nil
	}},
	{"com_snowplowanalytics_snowplow_ecommerce_product_1.csv", []string{"id", "category", "price", "quantity"}, func(e *EcomEvent, get func(string) string) error {
		price, err := amount(get("price"))
		if err != nil {
			return fmt.Errorf("price: %w", err)
		}
		q, err := count(get("quantity"))
		if err != nil {
			return fmt.Errorf("quantity: %w", err)
		}
		e.Products = append(e.Products, Product{ID: get("id"), Name: get("name"), Category: get("category"), Brand: get("brand"),
			Currency: get("currency"), Price: price, Quantity: q})
		return nil
	}},
	{"com_snowplowanalytics_snowplow_ecommerce_transaction_1.csv", []string{"transaction_id", "revenue"}, func(e *EcomEvent, get func(string) string) error {
		if e.Transaction != nil {
			return errTwice
		}
		t := Transaction{ID: get("transaction_id"), Currency: get("currency")}
		for name, to := range map[string]*float64{"revenue": &t.Revenue, "shipping": &t.Shipping, "tax": &t.Tax} {
			v, err := amount(get(name))
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			*to = v
		}
		e.Transaction = &t
		return nil
	}},
	{"com_snowplowanalytics_snowplow_ecommerce_user_1.csv", []string{"id"}, func(e *EcomEvent, get func(string) string) error {
		if e.UserID == "" {
			e.UserID = get("id")
		}
		e.Email = get("email")
		return nil
	}},
	{"com_snowplowanalytics_snowplow_ecommerce_checkout_step_1.csv", []string{"step"}, func(e *EcomEvent, get func(string) string) error {
		step, err := count(get("step"))
		e.Step = step
		return err
	}},
	{"com_snowplowanalytics_snowplow_ecommerce_page_1.csv", []string{"type"}, func(e *EcomEvent, get func(string) string) error {
		e.PageType = get("type")
		return nil
	}},
	{"com_snowplowanalytics_snowplow_client_session_1.csv", []string{"session_id", "user_id"}, func(e *EcomEvent, get func(string) string) error {
		if e.DomainUserID == "" {
			e.DomainUserID = get("user_id")
		}
		if e.SessionID == "" {
			e.SessionID = get("session_id")
		}
		return nil
	}},
	{"com_snowplowanalytics_mobile_screen_1.csv", []string{"name"}, func(e *EcomEvent, get func(string) string) error {
		e.Screen = get("name")
		return nil
	}},
}

// amount reads a money amount ("" is 0).
func amount(s string) (float64, error) {
	if s == "" {
		return 0, nil
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("not an amount: %q", s)
	}
	return v, nil
}

// count reads a non-negative whole number ("" is 0).
func count(s string) (int, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("not a count: %q", s)
	}
	return n, nil
}

// LoadEcommerce reads a Snowplow e-commerce folder: the atomic events (EcommerceEvents) and the
// entity files beside them, each joined to its event on root_id = event_id. Entity files that are
// missing are errors; an entity of an event the events file lacks is an error too.
func LoadEcommerce(dir string) ([]EcomEvent, error) {
	rows, err := LoadSnowplow(filepath.Join(dir, EcommerceEvents))
	if err != nil {
		return nil, err
	}
	events := make([]EcomEvent, len(rows))
	byID := map[string]*EcomEvent{}
	for i, r := range rows {
		events[i].Row = r
		byID[r.EventID] = &events[i]
	}
	for _, ef := range entityFiles {
		if err := ef.load(filepath.Join(dir, ef.name), byID); err != nil {
			return nil, err
		}
	}
	return events, nil
}

func (ef entityFile) load(path string, byID map[string]*EcomEvent) error {
	f, err := openDataset(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := ef.read(f, byID); err != nil {
		return fmt.Errorf("%s: %w", ef.name, err)
	}
	return nil
}

// read joins the entities of a file to their events.
func (ef entityFile) read(r io.Reader, byID map[string]*EcomEvent) error {
	return readTable(r, append([]string{"root_id"}, ef.need...), func(get func(string) string) error {
		e := byID[get("root_id")]
		if e == nil {
			return fmt.Errorf("root_id %q is no event of the events file", get("root_id"))
		}
		return ef.apply(e, get)
	})
}

// EcommerceCalls maps the e-commerce events to Segment calls as a shop's integration would send
// them (see README.md, "Mapping"): each action to its e-commerce spec event, an event without an
// action to a page (web) or screen (app) call. Envelopes and identifies are as in Calls; the
// identify carries the e-commerce user's email as a trait. The calls are in the order the events
// happened, as the integration would have sent them live: the file is grouped by export, not by
// time.
func EcommerceCalls(events []EcomEvent) []map[string]any {
	events = slices.Clone(events)
	slices.SortStableFunc(events, func(a, b EcomEvent) int { return a.At.Compare(b.At) })
	var cs callSeq
	for _, e := range events {
		var traits map[string]any
		if e.Email != "" {
			traits = map[string]any{"email": e.Email}
		}
		cs.add(e.Row, traits, ecommerceBody(e))
	}
	return cs.calls
}

// ecommerceBody is the type and fields of an event's call.
func ecommerceBody(e EcomEvent) map[string]any {
	switch e.Action {
	case "product_view":
		return trackCall("Product Viewed", productProps(e.Products))
	case "list_click":
		return trackCall("Product Clicked", productProps(e.Products))
	case "list_view":
		return trackCall("Product List Viewed", map[string]any{"list_id": e.List, "products": productList(e.Products)})
	case "add_to_cart":
		return trackCall("Product Added", productProps(e.Products))
	case "remove_from_cart":
		return trackCall("Product Removed", productProps(e.Products))
	case "checkout_step":
		return trackCall("Checkout Step Viewed", map[string]any{"step": e.Step})
	case "transaction", "refund":
		props := map[string]any{"products": productList(e.Products)}
		if t := e.Transaction; t != nil {
			// Snowplow's revenue is the order's total (here its products plus shipping): Segment's
			// total. Segment's revenue excludes shipping and tax, which the set does not split.
			props["order_id"], props["total"], props["shipping"], props["tax"], props["currency"] = t.ID, t.Revenue, t.Shipping, t.Tax, t.Currency
		}
		if e.Action == "refund" {
			return trackCall("Order Refunded", props)
		}
		return trackCall("Order Completed", props)
	case "promo_view":
		return trackCall("Promotion Viewed", map[string]any{})
	case "promo_click":
		return trackCall("Promotion Clicked", map[string]any{})
	case "":
		if e.Platform == "mob" {
			return map[string]any{"type": "screen", "name": e.Screen}
		}
		return pageCall(e.Row, e.PageType)
	default:
		return trackCall(e.Action, map[string]any{"products": productList(e.Products)})
	}
}

// productProps are the properties of a one-product event: the product's fields, or products[]
// when the event names several.
func productProps(ps []Product) map[string]any {
	if len(ps) == 1 {
		return productFields(ps[0])
	}
	return map[string]any{"products": productList(ps)}
}

func productList(ps []Product) []any {
	out := []any{}
	for _, p := range ps {
		out = append(out, productFields(p))
	}
	return out
}

func productFields(p Product) map[string]any {
	m := map[string]any{"product_id": p.ID, "price": p.Price}
	for k, v := range map[string]string{"name": p.Name, "category": p.Category, "brand": p.Brand, "currency": p.Currency} {
		if v != "" {
			m[k] = v
		}
	}
	if p.Quantity > 0 {
		m["quantity"] = p.Quantity
	}
	return m
}

// Shopper is what the e-commerce events say of one customer: a user id with the cookies and app
// installs it logged in from, or one cookie or install that never logged in.
type Shopper struct {
	UserID       string               // "" for a visitor who never logged in
	AnonymousIDs map[string]bool      // domain_userids and app installs
	Events       map[string]EcomEvent // distinct event ids, the first row of each
	Sessions     map[string]bool      // the set's session ids (domain_sessionid, the app's session)
	// Products viewed (product_view), carted (add_to_cart) and bought (in the first event of each
	// transaction id), by product id and by category: a view counts 1, a product added or bought
	// its quantity (1 when the event does not say).
	Viewed, Carted, Bought                               map[string]int
	ViewedCategories, CartedCategories, BoughtCategories map[string]int
	Orders                                               map[string]Order // by transaction id
	Revenue                                              float64          // of the orders
	// Basket is what was added and not removed since the last transaction event, by product id;
	// BasketValue prices each at its latest added price.
	Basket      map[string]int
	BasketValue float64
	Refunds     int
	// RefundValue is what the refunds were worth: the transaction's revenue, else their products'
	// price × quantity, as a positive amount (the profile's revenue is net of it).
	RefundValue float64
}

// Order is the first event of a transaction id.
type Order struct {
	At       time.Time
	Revenue  float64
	Products []Product
}

// EcomFacts are what the e-commerce events say, computed from the events alone.
type EcomFacts struct {
	Events int // distinct event ids
	// Unsent are the event ids with neither an anonymous id nor a user id: no call can carry them.
	Unsent []string
	// Shoppers are keyed "user:<user id>", or "anon:<anonymous id>" for a visitor who never logged in.
	Shoppers map[string]*Shopper
	Sessions int // distinct session ids of the events sent
	// Conflicting are the anonymous ids seen with more than one user id (their events without a
	// user id go to the first).
	Conflicting []string
}

// ComputeEcommerceFacts derives the facts of the events.
func ComputeEcommerceFacts(events []EcomEvent) EcomFacts {
	f := EcomFacts{Shoppers: map[string]*Shopper{}}
	owner := map[string]string{} // anonymous id → the first user id seen with it
	users := map[string]map[string]bool{}
	for _, e := range events {
		if e.DomainUserID != "" && e.UserID != "" {
			if owner[e.DomainUserID] == "" {
				owner[e.DomainUserID] = e.UserID
				users[e.DomainUserID] = map[string]bool{}
			}
			users[e.DomainUserID][e.UserID] = true
		}
	}
	for a, us := range users {
		if len(us) > 1 {
			f.Conflicting = append(f.Conflicting, a)
		}
	}
	sort.Strings(f.Conflicting)
	seen, sessions := map[string]bool{}, map[string]bool{}
	for _, e := range events {
		if seen[e.EventID] {
			continue
		}
		seen[e.EventID] = true
		user := e.UserID
		if user == "" {
			user = owner[e.DomainUserID]
		}
		key := "user:" + user
		switch {
		case user == "" && e.DomainUserID == "":
			f.Unsent = append(f.Unsent, e.EventID)
			continue
		case user == "":
			key = "anon:" + e.DomainUserID
		}
		if e.SessionID != "" {
			sessions[e.SessionID] = true
		}
		s := f.Shoppers[key]
		if s == nil {
			s = newShopper(user)
			f.Shoppers[key] = s
		}
		s.record(e)
	}
	f.Events, f.Sessions = len(seen), len(sessions)
	for _, s := range f.Shoppers {
		s.settle()
	}
	return f
}

func newShopper(user string) *Shopper {
	return &Shopper{UserID: user, AnonymousIDs: map[string]bool{}, Events: map[string]EcomEvent{}, Sessions: map[string]bool{},
		Viewed: map[string]int{}, Carted: map[string]int{}, Bought: map[string]int{},
		ViewedCategories: map[string]int{}, CartedCategories: map[string]int{}, BoughtCategories: map[string]int{},
		Orders: map[string]Order{}, Basket: map[string]int{}}
}

func quantity(p Product) int { return max(p.Quantity, 1) }

func bump(m map[string]int, key string, n int) {
	if key != "" {
		m[key] += n
	}
}

// record adds an event of the shopper.
func (s *Shopper) record(e EcomEvent) {
	if e.DomainUserID != "" {
		s.AnonymousIDs[e.DomainUserID] = true
	}
	if e.SessionID != "" {
		s.Sessions[e.SessionID] = true
	}
	s.Events[e.EventID] = e
	for _, p := range e.Products {
		switch e.Action {
		case "product_view":
			bump(s.Viewed, p.ID, 1)
			bump(s.ViewedCategories, p.Category, 1)
		case "add_to_cart":
			bump(s.Carted, p.ID, quantity(p))
			bump(s.CartedCategories, p.Category, quantity(p))
		}
	}
	if e.Action == "refund" {
		s.Refunds++
		if t := e.Transaction; t != nil {
			s.RefundValue += math.Abs(t.Revenue)
		} else {
			for _, p := range e.Products {
				s.RefundValue += math.Abs(p.Price * float64(max(p.Quantity, 1)))
			}
		}
	}
	if e.Action != "transaction" {
		return
	}
	id := "event:" + e.EventID // a transaction without an id is an order of its own
	o := Order{At: e.At, Products: e.Products}
	if e.Transaction != nil {
		id, o.Revenue = e.Transaction.ID, e.Transaction.Revenue
	}
	if prev, ok := s.Orders[id]; !ok || o.At.Before(prev.At) {
		s.Orders[id] = o
	}
}

// settle derives what needs all of a shopper's events: purchases, revenue and the open basket.
func (s *Shopper) settle() {
	var last time.Time // the last transaction event, repeats of an order included
	for _, e := range s.Events {
		if e.Action == "transaction" && e.At.After(last) {
			last = e.At
		}
	}
	for _, o := range s.Orders {
		s.Revenue += o.Revenue
		for _, p := range o.Products {
			bump(s.Bought, p.ID, quantity(p))
			bump(s.BoughtCategories, p.Category, quantity(p))
		}
	}
	var changes []EcomEvent
	for _, e := range s.Events {
		if (e.Action == "add_to_cart" || e.Action == "remove_from_cart") && e.At.After(last) {
			changes = append(changes, e)
		}
	}
	sort.Slice(changes, func(i, j int) bool { return changes[i].At.Before(changes[j].At) })
	price := map[string]float64{}
	for _, e := range changes {
		for _, p := range e.Products {
			if e.Action == "add_to_cart" {
				s.Basket[p.ID] += quantity(p)
				price[p.ID] = p.Price
			} else {
				s.Basket[p.ID] -= quantity(p)
			}
		}
	}
	for id, q := range s.Basket {
		if q <= 0 {
			delete(s.Basket, id)
			continue
		}
		s.BasketValue += float64(q) * price[id]
	}
}

// GapSessions counts the shopper's sessions by the inactivity rule alone, over its distinct events.
func (s *Shopper) GapSessions(timeout time.Duration) int {
	var ts []time.Time
	for _, e := range s.Events {
		ts = append(ts, e.At)
	}
	return gapSessions(ts, timeout)
}
