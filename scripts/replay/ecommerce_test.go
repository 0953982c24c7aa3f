package main

import (
	"context"
	"fmt"
	"maps"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/shared/localaws/localawstest"
	"github.com/dcrm-project/dcrm/shared/pii"
	"github.com/dcrm-project/dcrm/shared/profile"
)

// ecommerceFolder writes a small e-commerce folder: the events and every entity file, each with
// a header and the records given (files not given are empty but for their header).
func ecommerceFolder(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for _, ef := range entityFiles {
		body := "root_id," + strings.Join(ef.need, ",") + "\n"
		if b, ok := files[ef.name]; ok {
			body = b
		}
		require.NoError(t, os.WriteFile(filepath.Join(dir, ef.name), []byte(body), 0o644))
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, EcommerceEvents), []byte(files[EcommerceEvents]), 0o644))
	return dir
}

const ecomEventsHeader = "app_id,platform,event,event_id,event_name,user_id,domain_userid,domain_sessionid,collector_tstamp,derived_tstamp,page_url\n"

func TestLoadEcommerceJoinsEntities(t *testing.T) {
	dir := ecommerceFolder(t, map[string]string{
		EcommerceEvents: ecomEventsHeader +
			"shop,web,unstruct,e1,snowplow_ecommerce_action,,d1,s1,2022-10-25 07:49:55.526000+00:00,2022-10-25 07:49:55.400000+00:00,http://x.example/p\n" +
			"shop,web,unstruct,e2,snowplow_ecommerce_action,,d1,s1,2022-10-25 07:50:00.000000+00:00,,http://x.example/cart\n" +
			"shop,web,unstruct,e3,snowplow_ecommerce_action,,d1,s1,2022-10-25 07:51:00.000000+00:00,,http://x.example/done\n" +
			"app,mob,unstruct,e4,snowplow_ecommerce_action,,,,2022-11-20 11:53:06.352,2022-11-20 11:53:01.347,\n" +
			"shop,web,unstruct,e5,snowplow_ecommerce_action,,d1,s1,2022-10-25 07:52:00.000000+00:00,,http://x.example/\n",
		"com_snowplowanalytics_snowplow_ecommerce_action_1.csv": "root_id,type,name\ne1,product_view,\ne2,add_to_cart,\ne3,transaction,\ne4,\n",
		"com_snowplowanalytics_snowplow_ecommerce_product_1.csv": "root_id,id,category,price,quantity\n" +
			"e1,p1,Hats,12,\ne2,p1,Hats,12,\ne2,p2,Shoes,15.5,2\ne3,p1,Hats,12,\n",
		"com_snowplowanalytics_snowplow_ecommerce_transaction_1.csv": "root_id,transaction_id,revenue,shipping,currency\ne3,T1,13,1,EUR\n",
		"com_snowplowanalytics_snowplow_ecommerce_user_1.csv":        "root_id,id,email\ne2,U1,ann@example.com\n",
		"com_snowplowanalytics_snowplow_ecommerce_page_1.csv":        "root_id,type\ne5,homepage\n",
		"com_snowplowanalytics_snowplow_client_session_1.csv":        "root_id,session_id,user_id\ne4,cs1,install1\n",
		"com_snowplowanalytics_mobile_screen_1.csv":                  "root_id,name\ne4,Basket\n",
	})
	events, err := LoadEcommerce(dir)
	require.NoError(t, err)
	require.Len(t, events, 5)
	require.Equal(t, "product_view", events[0].Action)
	require.Equal(t, []Product{{ID: "p1", Category: "Hats", Price: 12}, {ID: "p2", Category: "Shoes", Price: 15.5, Quantity: 2}}, events[1].Products)
	require.Equal(t, "U1", events[1].UserID, "the e-commerce user's id when user_id is empty")
	require.Equal(t, &Transaction{ID: "T1", Currency: "EUR", Revenue: 13, Shipping: 1}, events[2].Transaction)
	require.Equal(t, "install1", events[3].DomainUserID, "an app event's install stands for the cookie")
	require.Equal(t, "cs1", events[3].SessionID)
	require.Equal(t, "2022-11-20T11:53:01.347Z", events[3].At.Format("2006-01-02T15:04:05.000Z07:00"), "timestamps without a zone are UTC")

	calls := EcommerceCalls(events)
	byID := map[string]map[string]any{}
	for _, c := range calls {
		byID[c["messageId"].(string)] = c
	}
	require.Len(t, calls, 6, "five events and one identify")
	id := calls[1]
	require.Equal(t, "identify", id["type"], "the identify goes before the pair's first event")
	require.Equal(t, map[string]any{"email": "ann@example.com"}, id["traits"])
	require.Equal(t, "Product Viewed", byID["e1"]["event"])
	require.Equal(t, "p1", byID["e1"]["properties"].(map[string]any)["product_id"], "one product: its fields")
	require.Len(t, byID["e2"]["properties"].(map[string]any)["products"], 2, "several products: products[]")
	order := byID["e3"]["properties"].(map[string]any)
	require.Equal(t, "Order Completed", byID["e3"]["event"])
	require.Equal(t, "T1", order["order_id"])
	require.Equal(t, 13.0, order["total"], "Snowplow's revenue is Segment's total")
	require.NotContains(t, order, "revenue")
	require.Equal(t, map[string]any{"type": "screen", "name": "Basket"}, map[string]any{"type": byID["e4"]["type"], "name": byID["e4"]["name"]})
	require.Equal(t, "install1", byID["e4"]["anonymousId"])
	require.Equal(t, "page", byID["e5"]["type"])
	require.Equal(t, "homepage", byID["e5"]["name"])

	f := ComputeEcommerceFacts(events)
	require.Len(t, f.Shoppers, 2, "the cookie logged in as U1, and the app install")
	u := f.Shoppers["user:U1"]
	require.NotNil(t, u)
	require.Len(t, u.Events, 4, "the cookie's events before and after the login")
	require.Equal(t, map[string]int{"p1": 1}, u.Viewed)
	require.Equal(t, map[string]int{"p1": 1, "p2": 2}, u.Carted)
	require.Equal(t, map[string]int{"p1": 1}, u.Bought)
	require.Equal(t, map[string]int{"Hats": 1, "Shoes": 2}, u.CartedCategories)
	require.Equal(t, 13.0, u.Revenue)
	require.Empty(t, u.Basket, "the order came after the additions")
}

func TestEcommerceFactsBasketAndRepeatedOrders(t *testing.T) {
	at := func(s string) Row {
		r, err := ParseSnowplow(strings.NewReader("event_id,event,event_name,domain_userid,collector_tstamp\nx,unstruct,a,d1,2022-10-25 07:" + s + "\n"))
		require.NoError(t, err)
		return r[0]
	}
	ev := func(id, when, action string, t *Transaction, ps ...Product) EcomEvent {
		r := at(when)
		r.EventID = id
		return EcomEvent{Row: r, Action: action, Transaction: t, Products: ps}
	}
	hat, shoe := Product{ID: "hat", Price: 12}, Product{ID: "shoe", Price: 15, Quantity: 2}
	f := ComputeEcommerceFacts([]EcomEvent{
		ev("a", "00:00", "add_to_cart", nil, hat),
		ev("o1", "01:00", "transaction", &Transaction{ID: "T", Revenue: 13}, hat),
		ev("o2", "02:00", "transaction", &Transaction{ID: "T", Revenue: 13}, hat), // the same order again
		ev("b", "03:00", "add_to_cart", nil, shoe),
		ev("c", "04:00", "remove_from_cart", nil, hat),
		ev("d", "05:00", "add_to_cart", nil, hat),
		ev("e", "06:00", "remove_from_cart", nil, Product{ID: "shoe"}),
	})
	s := f.Shoppers["anon:d1"]
	require.Len(t, s.Orders, 1)
	require.Equal(t, 13.0, s.Revenue, "a repeated order counts once")
	require.Equal(t, map[string]int{"hat": 1}, s.Bought)
	require.Equal(t, map[string]int{"shoe": 1}, s.Basket, "the hat removed, then added again, nets 0; one of two shoes removed")
	require.Equal(t, 15.0, s.BasketValue)
}

func TestLoadEcommerceRefusesBadInput(t *testing.T) {
	good := ecomEventsHeader + "shop,web,unstruct,e1,snowplow_ecommerce_action,,d1,s1,2022-10-25 07:49:55.526,,\n"
	for name, tc := range map[string]struct{ file, body, want string }{
		"orphan entity": {"com_snowplowanalytics_snowplow_ecommerce_action_1.csv", "root_id,type,name\nnope,product_view,\n", `root_id "nope"`},
		"bad price":     {"com_snowplowanalytics_snowplow_ecommerce_product_1.csv", "root_id,id,category,price,quantity\ne1,p1,,twelve,\n", "not an amount"},
		"two actions":   {"com_snowplowanalytics_snowplow_ecommerce_action_1.csv", "root_id,type,name\ne1,product_view,\ne1,list_view,\n", "second entity"},
		"no column":     {"com_snowplowanalytics_snowplow_ecommerce_transaction_1.csv", "root_id,transaction_id\n", `no column "revenue"`},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := LoadEcommerce(ecommerceFolder(t, map[string]string{EcommerceEvents: good, tc.file: tc.body}))
			require.ErrorContains(t, err, tc.file)
			require.ErrorContains(t, err, tc.want)
		})
	}
	dir := ecommerceFolder(t, map[string]string{EcommerceEvents: good})
	require.NoError(t, os.Remove(filepath.Join(dir, "com_snowplowanalytics_mobile_screen_1.csv")))
	_, err := LoadEcommerce(dir)
	require.ErrorIs(t, err, ErrNoDataset)
}

// shopperView is what the replay compares of a shopper: from the facts, and from its profile.
type shopperView struct {
	UserID                                               string
	AnonymousIDs                                         []string
	Events, PageViews, Screens                           int
	Viewed, Carted, Bought                               map[string]int
	ViewedCategories, CartedCategories, BoughtCategories map[string]int
	Orders                                               int
	Revenue                                              float64 // to the cent
	Basket                                               map[string]int
	BasketValue                                          float64 // to the cent
}

func cents(v float64) float64 { return math.Round(v*100) / 100 }

// nonNil makes absent counts compare equal to no counts.
func nonNil(m map[string]int) map[string]int {
	if m == nil {
		return map[string]int{}
	}
	return m
}

func (s *Shopper) view() shopperView {
	v := shopperView{UserID: s.UserID, AnonymousIDs: slices.Sorted(maps.Keys(s.AnonymousIDs)), Events: len(s.Events),
		Viewed: s.Viewed, Carted: s.Carted, Bought: s.Bought,
		ViewedCategories: s.ViewedCategories, CartedCategories: s.CartedCategories, BoughtCategories: s.BoughtCategories,
		Orders: len(s.Orders), Revenue: cents(s.Revenue - s.RefundValue), Basket: s.Basket, BasketValue: cents(s.BasketValue)}
	for _, e := range s.Events {
		switch {
		case e.Action == "" && e.Platform == "mob":
			v.Screens++
		case e.Action == "":
			v.PageViews++
		}
	}
	return v
}

func (p apiProfile) view() shopperView {
	v := shopperView{UserID: p.UserID, AnonymousIDs: slices.Sorted(slices.Values(p.AnonymousIDs)),
		Events: p.Counts.PageViews + p.Counts.Tracks + p.Counts.Screens, PageViews: p.Counts.PageViews, Screens: p.Counts.Screens,
		Viewed: map[string]int{}, Carted: map[string]int{}, Bought: map[string]int{},
		ViewedCategories: map[string]int{}, CartedCategories: map[string]int{}, BoughtCategories: map[string]int{},
		Orders: p.Orders, Revenue: cents(p.Revenue), Basket: map[string]int{}}
	if ps := p.Products; ps != nil {
		v.Viewed, v.Carted, v.Bought = nonNil(ps.Viewed), nonNil(ps.Carted), nonNil(ps.Bought)
		c := ps.Categories
		v.ViewedCategories, v.CartedCategories, v.BoughtCategories = nonNil(c.Viewed), nonNil(c.Carted), nonNil(c.Bought)
	}
	if b := p.Basket; b != nil {
		for _, it := range b.Items {
			v.Basket[it.ProductID] = it.Quantity
		}
		v.BasketValue = cents(b.Value)
	}
	return v
}

// lookup finds a shopper's profile: by its user id, or by its one anonymous id.
func (r *harness) lookup(s *Shopper) (apiProfile, bool) {
	kind, id := "userId", s.UserID
	if id == "" {
		kind, id = "anonymousId", slices.Sorted(maps.Keys(s.AnonymousIDs))[0]
	}
	p, status, err := r.c.profile(context.Background(), kind, id)
	return p, err == nil && status == http.StatusOK
}

// TestSnowplowEcommerceReplay replays the dbt-snowplow-ecommerce integration events
// (events/snowplow_ecommerce/ of the public event sets, Apache-2.0: the atomic events and their
// entity files) through the real endpoint as a shop's Segment integration would send them, and
// checks every customer's profile against facts computed from the files alone: identifiers,
// events, products viewed / carted / bought and their categories, orders, revenue, the open
// basket and sessions.
func TestSnowplowEcommerceReplay(t *testing.T) {
	// Before the event sets are read: -short skips here.
	localawstest.Reachable(t)
	t.Parallel() // each replay has a stack of its own
	ctx := context.Background()
	events := dataset(t, EcommerceDataset, LoadEcommerce)
	facts := ComputeEcommerceFacts(events)
	require.Empty(t, facts.Conflicting, "the set logs no cookie in as two users")
	calls := EcommerceCalls(events)
	keys := slices.Sorted(maps.Keys(facts.Shoppers))
	r := newHarness(t)

	got := map[string]apiProfile{}
	used := r.pass(calls, func() bool {
		for _, k := range keys {
			p, ok := r.lookup(facts.Shoppers[k])
			if !ok || p.Counts.PageViews+p.Counts.Tracks+p.Counts.Screens < len(facts.Shoppers[k].Events) {
				return false
			}
			got[k] = p
		}
		return true
	})

	// Stitching: every customer is one profile with its user id, its cookies and app installs and
	// nothing else; no two customers share one.
	owner := map[string]string{}
	for _, k := range keys {
		p := got[k]
		require.Empty(t, owner[p.ProfileID], "%s and %s share a profile", owner[p.ProfileID], k)
		owner[p.ProfileID] = k
		require.Equal(t, facts.Shoppers[k].view(), p.view(), "customer %s", k)
	}
	// The identify's email (hashed by the endpoint) finds the same profile.
	for _, k := range keys {
		for _, e := range facts.Shoppers[k].Events {
			if e.Email == "" {
				continue
			}
			p, status, err := r.c.profile(ctx, "emailSha256", pii.Hash(strings.ToLower(e.Email)))
			require.NoError(t, err)
			require.Equal(t, http.StatusOK, status)
			require.Equal(t, got[k].ProfileID, p.ProfileID, "email of %s", k)
			break
		}
	}

	var report strings.Builder
	fmt.Fprintf(&report, "%-22s %6s %6s %8s %6s %6s %6s %12s %7s\n", "customer", "events", "anon", "sp.sess", "gap30", "visits", "orders", "revenue", "basket")
	agree := 0
	for _, k := range keys {
		s, p := facts.Shoppers[k], got[k]
		gap := s.GapSessions(profile.SessionTimeout)
		if p.Visits == len(s.Sessions) {
			agree++
		}
		basket := 0
		for _, q := range s.Basket {
			basket += q
		}
		fmt.Fprintf(&report, "%-22.22s %6d %6d %8d %6d %6d %6d %12.2f %7d\n", k, len(s.Events), len(s.AnonymousIDs), len(s.Sessions), gap, p.Visits, len(s.Orders), s.Revenue, basket)
	}
	for _, k := range keys {
		require.Equal(t, facts.Shoppers[k].GapSessions(profile.SessionTimeout), got[k].Visits, "visits of %s: the set has no campaign tags, so only inactivity starts a visit", k)
	}
	accepted := facts.Events - len(facts.Unsent) + countIdentifies(calls)
	fmt.Fprintf(&report, "visits equal to the set's distinct session ids for %d of %d customers\n", agree, len(keys))
	fmt.Fprintf(&report, "events %d (unsent, without any identifier: %d), calls %d, identifies %d, customers %d, sessions %d\n",
		facts.Events, len(facts.Unsent), len(calls), countIdentifies(calls), len(keys), facts.Sessions)
	writeUnits(&report, r, used, accepted, facts.Events-len(facts.Unsent))

	// Replaying everything (same message ids) changes no profile.
	replayed := r.again(calls)
	for _, k := range keys {
		p, ok := r.lookup(facts.Shoppers[k])
		require.True(t, ok)
		require.Equal(t, got[k].view(), p.view(), "the replay changed %s", k)
		require.Equal(t, got[k].Visits, p.Visits, "the replay changed the visits of %s", k)
	}
	replayUnits(&report, r, replayed, len(calls))
	report.WriteString(r.checkArchive(calls))
	r.report("ecommerce", report.String())
}

// FuzzEntityFiles feeds every entity file's reader arbitrary CSV: it returns an error or joins
// entities to the one event, never panics.
func FuzzEntityFiles(f *testing.F) {
	f.Add("root_id,id,category,price,quantity\ne1,p1,Hats,12,\n")
	f.Add("root_id,type,name\ne1,list_view,recommended\ne1,product_view,\n")
	f.Add("root_id,transaction_id,revenue,shipping,tax\ne1,T1,1e308,NaN,\n")
	f.Add("root_id,step\ne1,-1\n")
	f.Add("root_id,\"session_id\nx\",user_id\ne1,\"a\"b,c\n")
	f.Fuzz(func(t *testing.T, body string) {
		for _, ef := range entityFiles {
			e := &EcomEvent{Row: Row{EventID: "e1"}}
			if err := ef.read(strings.NewReader(body), map[string]*EcomEvent{"e1": e}); err != nil {
				continue
			}
			for _, p := range e.Products {
				require.False(t, math.IsNaN(p.Price) || math.IsInf(p.Price, 0) || p.Quantity < 0, "product %+v", p)
			}
			require.GreaterOrEqual(t, e.Step, 0)
		}
	})
}
