package profile

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dcrm-project/dcrm/shared/beacon"
)

// IsPurchase names exactly the activities that Apply records as orders.
func TestIsPurchase(t *testing.T) {
	for _, c := range []struct {
		typ, event string
		want       bool
	}{
		{beacon.Track, "Order Completed", true},
		{beacon.Track, "order_completed", true},
		{beacon.Track, "ORDER-COMPLETED", true},
		{beacon.Track, "Order\tCompleted", true},
		{beacon.Track, "Order Completed" + strings.Repeat(" ", 60), false}, // past the length names are read to
		{beacon.Track, "Order Refunded", false},
		{beacon.Track, "Checkout Completed", false},
		{beacon.Page, "Order Completed", false},
		{beacon.Screen, "Order Completed", false},
	} {
		a := Activity{MessageID: "m1", Type: c.typ, Event: c.event, AnonymousID: "a", At: at(0)}
		if got := IsPurchase(a); got != c.want {
			t.Errorf("IsPurchase(%s %q) = %v, want %v", c.typ, c.event, got, c.want)
		}
		if ordered := Apply(Profile{ID: "p"}, a, nil).OrderCount == 1; ordered != c.want {
			t.Errorf("%s %q: Apply records an order: %v, IsPurchase %v", c.typ, c.event, ordered, c.want)
		}
	}
}

func TestBasketOpenedAndClosedByAnOrder(t *testing.T) {
	acts := activities(t,
		trackAt("Product Added", 0, `{"product_id":"p1","quantity":2,"price":10}`),
		trackAt("product_added", 1, `{"productId":"p2","price":"5.5"}`),
		trackAt("Product Removed", 2, `{"product_id":"p2"}`),
		trackAt("Product Added", 3, `{"product_id":"p3","price":1}`),
		trackAt("Product Removed", 4, `{"product_id":"p3","quantity":5}`),
	)
	p := applyAll(t, acts, inOrder(len(acts)))
	want := &OpenBasket{Items: []BasketItem{{ProductID: "p1", Quantity: 2, Price: 10}}, Value: 20, UpdatedAt: at(4)}
	if got := p.Basket.Open(); !reflect.DeepEqual(got, want) {
		t.Fatalf("basket %+v, want %+v", got, want)
	}
	order := activities(t, trackAt("Order Completed", 5, `{"order_id":"o1","total":20}`))[0]
	closed := Apply(p, order, nil)
	if b := closed.Basket.Open(); b != nil {
		t.Errorf("basket after the order = %+v, want none", b)
	}
	// An addition from before the order, arriving after it, stays closed; a later one opens a new basket.
	late := activities(t, trackAt("Product Added", 4, `{"product_id":"p4"}`), trackAt("Product Added", 6, `{"product_id":"p5","price":3}`))
	closed = Apply(closed, late[0], nil)
	if b := closed.Basket.Open(); b != nil {
		t.Errorf("late addition reopened the basket: %+v", b)
	}
	closed = Apply(closed, late[1], nil)
	if b := closed.Basket.Open(); b == nil || len(b.Items) != 1 || b.Items[0].ProductID != "p5" || b.Value != 3 {
		t.Errorf("new basket = %+v", b)
	}
	if closed.Products.Carted["p1"] != 2 || closed.Products.Carted["p4"] != 1 {
		t.Errorf("carted = %v", closed.Products.Carted)
	}
}

func TestFormsAbandonedAndSubmitted(t *testing.T) {
	acts := activities(t,
		trackAt("Form Started", 0, `{"formId":"signup"}`),
		trackAt("Form Submitted", 2, `{"formId":"signup"}`),
		trackAt("Form Started", 3, `{"form_id":"quote"}`),
		trackAt("form_started", 4, `{"form_name":"contact"}`),
		trackAt("Form Submitted", 5, `{"form_name":"contact"}`),
		trackAt("Form Started", 6, `{}`), // no id: nothing to remember
	)
	want := []OpenForm{{FormID: "quote", StartedAt: at(3)}}
	for seed := range uint64(10) {
		order := inOrder(len(acts))
		rand.New(rand.NewPCG(seed, 2)).Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		if got := applyAll(t, acts, order).OpenForms(); !reflect.DeepEqual(got, want) {
			t.Errorf("order %v: open forms %+v, want %+v", order, got, want)
		}
	}
	restarted := Apply(applyAll(t, acts, inOrder(len(acts))), activities(t, trackAt("Form Started", 9, `{"formId":"signup"}`))[0], nil)
	if got := restarted.OpenForms(); len(got) != 2 || got[1] != (OpenForm{FormID: "signup", StartedAt: at(9)}) {
		t.Errorf("restarted form: %+v", got)
	}
	p := Profile{ID: "p"}
	for i := range MaxForms + 5 {
		p = Apply(p, Activity{Type: beacon.Track, Event: "Form Started", FormID: fmt.Sprintf("f%02d", i), At: at(i)}, nil)
	}
	if len(p.Forms) != MaxForms || len(p.OpenForms()) != MaxForms || p.OpenForms()[0].FormID != "f05" {
		t.Errorf("bounded forms: %d kept, first open %+v", len(p.Forms), p.OpenForms()[0])
	}
}

func TestRevenueCountsEachOrderOnce(t *testing.T) {
	acts := activities(t,
		trackAt("Order Completed", 0, `{"order_id":"o1","revenue":30,"products":[{"product_id":"p1","quantity":2},{"product_id":"p2"}]}`),
		trackAt("Order Completed", 1, `{"order_id":"o1","revenue":30,"products":[{"product_id":"p1","quantity":2}]}`), // reported twice: the earlier counts
		trackAt("order_completed", 2, `{"orderId":17,"total":"12.5","product_id":"p3"}`),
		trackAt("Order Completed", 3, `{"revenue":7.25}`), // no order id: its own order
		trackAt("Order Completed", 4, `{"order_id":"o4","revenue":"n/a"}`),
	)
	for seed := range uint64(10) {
		order := inOrder(len(acts))
		rand.New(rand.NewPCG(seed, 3)).Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		p := applyAll(t, acts, order)
		if p.OrderCount != 4 || p.Revenue != 49.75 || !reflect.DeepEqual(p.Products.Bought, map[string]int{"p1": 2, "p2": 1, "p3": 1}) {
			t.Errorf("order %v: %d orders, revenue %v, bought %v", order, p.OrderCount, p.Revenue, p.Products.Bought)
		}
	}
	// Orders past the kept list are settled and still counted.
	p := Profile{ID: "p"}
	for i := range MaxOrders + 10 {
		p = Apply(p, Activity{Type: beacon.Track, Event: "Order Completed", OrderID: fmt.Sprint(i), Revenue: 1, At: at(i)}, nil)
	}
	p = Apply(p, Activity{Type: beacon.Track, Event: "Order Completed", OrderID: fmt.Sprint(MaxOrders + 9), Revenue: 1, At: at(500)}, nil)
	if len(p.Orders) != MaxOrders || p.OrderCount != MaxOrders+10 || p.Revenue != MaxOrders+10 {
		t.Errorf("%d orders kept, %d counted, revenue %v", len(p.Orders), p.OrderCount, p.Revenue)
	}
}

func TestProductsViewedAreBounded(t *testing.T) {
	p := Profile{ID: "p"}
	for i := range MaxProducts + 10 {
		n := 1
		if i < 5 {
			n = 3 // the first five are viewed three times
		}
		for range n {
			p = Apply(p, Activity{Type: beacon.Track, Event: "Product Viewed", Products: []Line{{ProductID: fmt.Sprintf("p%02d", i), Quantity: 1}}, At: at(i)}, nil)
		}
	}
	if len(p.Products.Viewed) != MaxProducts || p.Products.Viewed["p00"] != 3 || p.Products.Viewed["p04"] != 3 {
		t.Errorf("viewed: %d products, p00 %d", len(p.Products.Viewed), p.Products.Viewed["p00"])
	}
}

func TestFromEventReadsDetails(t *testing.T) {
	e := beacon.Event{Type: beacon.Page, MessageID: "m", AnonymousID: "A", Timestamp: t0,
		Context:    json.RawMessage(`{"page":{"url":"https://shop.example/shoes/red?utm_source=google"}}`),
		Enrichment: &beacon.Enrichment{Channel: "paid search", Campaign: spring}}
	a, err := FromEvent(e)
	if err != nil || a.Page != "/shoes/red" || a.Channel != "paid search" || a.Campaign != (Campaign{Source: "google", Medium: "cpc", Name: "spring"}) {
		t.Errorf("page details: %+v, %v", a, err)
	}
	e = beacon.Event{Type: beacon.Track, Event: "Product Added", MessageID: "m", AnonymousID: "A", Timestamp: t0,
		Properties: json.RawMessage(`{"products":[{"product_id":"a","quantity":3,"price":2.5},{"sku":"no id"},{"product_id":7}]}`)}
	a, err = FromEvent(e)
	if want := []Line{{ProductID: "a", Quantity: 3, Price: 2.5}, {ProductID: "7", Quantity: 1}}; err != nil || !reflect.DeepEqual(a.Products, want) {
		t.Errorf("lines: %+v, %v; want %+v", a.Products, err, want)
	}
	// Properties that are not an object cost the details, not the event.
	e.Properties = json.RawMessage(`[1,2]`)
	if a, err = FromEvent(e); err != nil || a.Products != nil || a.Event != "Product Added" {
		t.Errorf("bad properties: %+v, %v", a, err)
	}
}

func TestAggregatesOfAVisit(t *testing.T) {
	acts := activities(t,
		ev{typ: beacon.Page, name: "/", min: 0, campaign: spring, channel: "paid search"},
		pageAt("/shoes", 1), trackAt("Page Ping", 2, `{"engagedSeconds":30}`),
		trackAt("Product Added", 3, `{"product_id":"p1","price":10}`),
		trackAt("Form Started", 4, `{"formId":"f"}`),
		pageAt("/", 90),
	)
	p := applyAll(t, acts, inOrder(len(acts)))
	if p.Visits != 2 || p.EngagedSeconds != 30 || p.LastChannel != "paid search" || p.OrderCount != 0 {
		t.Errorf("visits %d, engaged %d, last channel %q, orders %d", p.Visits, p.EngagedSeconds, p.LastChannel, p.OrderCount)
	}
	wantSession := &Session{ID: "ses_" + strconv.FormatInt(at(90).UnixMilli(), 36), Start: at(90), End: at(90), Events: 1, PageViews: 1, LandingPage: "/"}
	if !reflect.DeepEqual(p.Session, wantSession) {
		t.Errorf("session %+v, want %+v", p.Session, wantSession)
	}
	if want := (Products{Carted: map[string]int{"p1": 1}, Last: map[string]time.Time{"p1": at(3)}}); !reflect.DeepEqual(p.Products, want) {
		t.Errorf("products %+v, want %+v", p.Products, want)
	}
	if want := (&OpenBasket{Items: []BasketItem{{ProductID: "p1", Quantity: 1, Price: 10}}, Value: 10, UpdatedAt: at(3)}); !reflect.DeepEqual(p.Basket.Open(), want) {
		t.Errorf("open basket %+v, want %+v", p.Basket.Open(), want)
	}
	if want := []OpenForm{{FormID: "f", StartedAt: at(4)}}; !reflect.DeepEqual(p.OpenForms(), want) {
		t.Errorf("open forms %+v, want %+v", p.OpenForms(), want)
	}
}

func TestCategoriesAndLastTouchAreCounted(t *testing.T) {
	acts := activities(t,
		trackAt("Product Viewed", 0, `{"product_id":"p1","category":"Shoes"}`),
		trackAt("Product Viewed", 5, `{"product_id":"p1","category":"Shoes"}`),
		trackAt("Product Viewed", 6, `{"product_id":"p2","category":"Bags"}`),
		trackAt("Product Added", 7, `{"products":[{"product_id":"p1","quantity":2,"category":"Shoes"},{"product_id":"p3"}]}`),
		trackAt("Order Completed", 9, `{"order_id":"o1","products":[{"product_id":"p1","quantity":2,"category":"Shoes"},{"product_id":"p4","category":"Socks"}]}`),
		// The same order reported later with fewer lines: the earlier occurrence is the order.
		trackAt("Order Completed", 10, `{"order_id":"o1","products":[{"product_id":"p1","quantity":2,"category":"Shoes"}]}`),
	)
	want := Products{
		Viewed: map[string]int{"p1": 2, "p2": 1}, Carted: map[string]int{"p1": 2, "p3": 1}, Bought: map[string]int{"p1": 2, "p4": 1},
		Last: map[string]time.Time{"p1": at(7), "p2": at(6), "p3": at(7)},
		Categories: Categories{Viewed: map[string]int{"Shoes": 2, "Bags": 1}, Carted: map[string]int{"Shoes": 2},
			Bought: map[string]int{"Shoes": 2, "Socks": 1}, Last: map[string]time.Time{"Shoes": at(7), "Bags": at(6)}},
	}
	for seed := range uint64(10) {
		order := inOrder(len(acts))
		rand.New(rand.NewPCG(seed, 4)).Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		if got := applyAll(t, acts, order).Products; !reflect.DeepEqual(got, want) {
			t.Errorf("order %v: products\n%+v\nwant\n%+v", order, got, want)
		}
	}
	// Folding two halves gives what one profile given everything has.
	a, b := applyAll(t, acts, []int{0, 3, 5}), applyAll(t, acts, []int{1, 2, 4})
	folded, err := Fold(a, b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(folded.Products, want) {
		t.Errorf("folded products\n%+v\nwant\n%+v", folded.Products, want)
	}
	if got, err := Fold(b, a); err != nil || !reflect.DeepEqual(got.Products, want) {
		t.Errorf("folded the other way\n%+v\nwant\n%+v", got.Products, want)
	}
}

func TestCategoriesAreBoundedAndLastFollowsTheCounts(t *testing.T) {
	p := Profile{ID: "p"}
	view := func(p Profile, id, cat string, i int) Profile {
		return Apply(p, Activity{Type: beacon.Track, Event: "Product Viewed", At: at(i),
			Products: []Line{{ProductID: id, Quantity: 1, Category: cat}}}, nil)
	}
	p = view(p, "keep", "c-keep", 0)
	p = view(p, "keep", "c-keep", 1)
	for i := range MaxProducts + 10 {
		p = view(p, fmt.Sprintf("p%02d", i), fmt.Sprintf("c%02d", i), i+2)
	}
	c := p.Products.Categories
	if len(c.Viewed) != MaxCategories || c.Viewed["c-keep"] != 2 || len(c.Last) != MaxCategories {
		t.Errorf("categories: %d viewed (c-keep %d), %d last times", len(c.Viewed), c.Viewed["c-keep"], len(c.Last))
	}
	if len(p.Products.Last) != len(p.Products.Viewed) {
		t.Errorf("%d last times for %d products", len(p.Products.Last), len(p.Products.Viewed))
	}
	for id := range p.Products.Last {
		if _, ok := p.Products.Viewed[id]; !ok {
			t.Errorf("last time kept for dropped product %s", id)
		}
	}
	// Seconds are enough: Last is kept to the second.
	p = Apply(p, Activity{Type: beacon.Track, Event: "Product Viewed", At: at(500).Add(1500 * time.Millisecond),
		Products: []Line{{ProductID: "keep", Quantity: 1}}}, nil)
	if got := p.Products.Last["keep"]; !got.Equal(at(500).Add(time.Second)) {
		t.Errorf("last = %v", got)
	}
}

func TestFromEventReadsCategories(t *testing.T) {
	for _, props := range []string{
		`{"product_id":"p1","category":"Games","price":3}`,
		`{"products":[{"product_id":"p1","category":"Games","price":3}]}`,
	} {
		a, err := FromEvent(beacon.Event{Type: beacon.Track, Event: "Product Viewed", MessageID: "m", AnonymousID: "A", Timestamp: t0,
			Properties: json.RawMessage(props)})
		if want := []Line{{ProductID: "p1", Quantity: 1, Price: 3, Category: "Games"}}; err != nil || !reflect.DeepEqual(a.Products, want) {
			t.Errorf("%s: lines %+v, %v; want %+v", props, a.Products, err, want)
		}
	}
}

// Offline orders and returns: an order's sales channel and store, refunds that reduce the revenue,
// the first and last orders and the acquisition channel, the same in any order and when the
// activity is split between two profiles that are folded.
func TestOfflineOrdersReturnsAndFirstTouch(t *testing.T) {
	acts := activities(t,
		ev{typ: beacon.Page, name: "/", min: 5, channel: "paid search"},
		trackAt("Order Completed", 2, `{"order_id":"s1","revenue":40,"channel":"Store","store":"Leeds","products":[{"product_id":"p1","quantity":2,"price":20}]}`),
		trackAt("Order Completed", 10, `{"order_id":"w1","revenue":25,"product_id":"p2"}`),
		trackAt("Order Completed", 20, `{"order_id":"t1","total":15,"channel":"phone"}`),
		trackAt("Order Refunded", 21, `{"order_id":"s1","revenue":-20}`),
		trackAt("Order Refunded", 22, `{"order_id":"w1","products":[{"product_id":"p2","quantity":-2,"price":2.5}]}`),
	)
	want := func(t *testing.T, p Profile) {
		t.Helper()
		if p.OrderCount != 3 || p.Revenue != 55 || p.Returns != (Returns{Count: 2, Value: 25}) {
			t.Errorf("%d orders, revenue %v, returns %+v; want 3, 80 - 25, {2 25}", p.OrderCount, p.Revenue, p.Returns)
		}
		if p.FirstOrder != (Touch{At: at(2), Channel: "store"}) || p.LastOrder != (Touch{At: at(20), Channel: "phone"}) {
			t.Errorf("first order %+v, last %+v", p.FirstOrder, p.LastOrder)
		}
		if p.Acquisition != (Touch{At: at(2), Channel: "store"}) {
			t.Errorf("acquisition %+v: the store order came before the first visit", p.Acquisition)
		}
	}
	for seed := range uint64(10) {
		order := inOrder(len(acts))
		rand.New(rand.NewPCG(seed, 5)).Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		p := applyAll(t, acts, order)
		want(t, p)
		i := slices.IndexFunc(p.Orders, func(o Order) bool { return o.ID == "s1" })
		if i < 0 || p.Orders[i].Channel != "store" || p.Orders[i].Store != "Leeds" {
			t.Errorf("the store order: %+v", p.Orders)
		}
		if j := slices.IndexFunc(p.Orders, func(o Order) bool { return o.ID == "w1" }); j < 0 || p.Orders[j].Channel != ChannelOnline {
			t.Errorf("an order that names no channel is online: %+v", p.Orders)
		}
		// Split between two devices' profiles, folded either way.
		a, b := Profile{ID: "a"}, Profile{ID: "b"}
		for k, i := range order {
			if k%2 == 0 {
				a = Apply(a, acts[i], nil)
			} else {
				b = Apply(b, acts[i], nil)
			}
		}
		ab, err := Fold(a, b)
		if err != nil {
			t.Fatal(err)
		}
		want(t, ab)
		ba, _ := Fold(b, a)
		want(t, ba)
	}
	// Without the store order the first touch is the visit's channel.
	p := applyAll(t, acts[:1], inOrder(1))
	if p.Acquisition != (Touch{At: at(5), Channel: "paid search"}) || p.FirstOrder != (Touch{}) {
		t.Errorf("a visitor: acquisition %+v, first order %+v", p.Acquisition, p.FirstOrder)
	}
}

// Settled orders keep the first and last orders' times and channels.
func TestFirstOrderSurvivesSettling(t *testing.T) {
	p := Profile{ID: "p"}
	p = Apply(p, Activity{Type: beacon.Track, Event: "Order Completed", OrderID: "first", Revenue: 1, At: at(0), SalesChannel: "store"}, nil)
	for i := range MaxOrders + 5 {
		p = Apply(p, Activity{Type: beacon.Track, Event: "Order Completed", OrderID: fmt.Sprint(i), Revenue: 1, At: at(i + 1)}, nil)
	}
	if slices.ContainsFunc(p.Orders, func(o Order) bool { return o.ID == "first" }) {
		t.Fatal("the first order should have been settled")
	}
	if p.FirstOrder != (Touch{At: at(0), Channel: "store"}) || p.LastOrder != (Touch{At: at(MaxOrders + 5), Channel: ChannelOnline}) {
		t.Errorf("first %+v, last %+v", p.FirstOrder, p.LastOrder)
	}
	if p.OrderCount != MaxOrders+6 || p.Revenue != MaxOrders+6 {
		t.Errorf("%d orders, revenue %v", p.OrderCount, p.Revenue)
	}
}
