package importing

import (
	"fmt"
	"math"

	"github.com/dcrm-project/dcrm/shared/beacon"
)

// orderGroup is the order being read: consecutive lines with one order_id. Its bought lines make
// one "Order Completed", its returned lines one "Order Refunded".
type orderGroup struct {
	id    string
	first *row // the order's fields (who, when, currency, channel …) are its first line's
	rows  int
	sets  [2]lineSet // bought, returned
}

// lineSet is the lines of one event of an order.
type lineSet struct {
	lines     []int
	products  []byte // the products' JSON, comma-separated
	n         int    // products listed
	truncated bool
	revenue   float64
	h         *idHash
}

// orderLevel are the fields that describe the order rather than one line.
var orderLevel = []fieldID{fUserID, fAnonymousID, fEmail, fPhone, fOrderID, fTimestamp, fCurrency, fChannel, fStore, fCoupon}

// sameForOrder are the order-level fields every line of an order must agree on: who bought it,
// and the currency its amounts are in. (Other order-level fields are the first line's; a later
// line's time may differ by the seconds a till took.)
var sameForOrder = []fieldID{fUserID, fAnonymousID, fEmail, fPhone, fCurrency}

func (rd *Reader) orderLine(r *row) {
	q := 1.0
	if r.v[fQuantity].set {
		q = r.v[fQuantity].num
	}
	if q == 0 {
		rd.reject(r, "quantity is 0 (a line has units bought, or returned when negative)")
		return
	}
	isReturn := rd.spec.Kind == Returns || q < 0
	if isReturn {
		q = -math.Abs(q)
	}
	var revenue float64
	switch {
	case r.v[fRevenue].set:
		revenue = r.v[fRevenue].num
		if !isReturn && revenue < 0 {
			rd.reject(r, "revenue is negative on a line bought (a return is a line with a negative quantity)")
			return
		}
		if isReturn {
			revenue = -math.Abs(revenue)
		}
	case r.v[fPrice].set:
		revenue = r.v[fPrice].num * q
	default:
		rd.reject(r, "the line needs a price or a revenue")
		return
	}

	orderID := r.v[fOrderID].text
	if g := rd.order; g != nil && g.id != orderID {
		rd.closeOrder()
	}
	g := rd.order
	if g == nil {
		r.copyTo(&rd.first, rd.spec.Kind)
		g = &orderGroup{id: orderID, first: &rd.first}
		rd.order = g
	} else {
		for _, id := range sameForOrder {
			if r.v[id].text != g.first.v[id].text {
				rd.reject(r, fmt.Sprintf("order %s has another %s on its first line (line %d): an order is one customer's, in one currency", short(orderID), fields[id].Name, g.first.line))
				return
			}
		}
		if g.rows >= MaxOrderRows {
			rd.reject(r, fmt.Sprintf("order %s has more than %d lines", short(orderID), MaxOrderRows))
			return
		}
	}
	g.rows++

	set := &g.sets[0]
	event := EventOrderCompleted
	if isReturn {
		set, event = &g.sets[1], EventOrderRefunded
	}
	if set.h == nil {
		set.h = newIDHash(rd.spec.Kind, event)
		set.h.values(g.first, rd, true, orderLevel...)
	}
	set.lines = append(set.lines, r.line)
	set.revenue += revenue
	set.h.values(r, rd, false, fProductID, fSKU, fProductName, fCategory, fBrand, fVariant, fPrice)
	set.h.str(formatNum(q))
	set.h.str(formatNum(revenue))

	p := newObject()
	p.set("product_id", r.v[fProductID])
	p.set("sku", r.v[fSKU])
	p.set("name", r.v[fProductName])
	p.set("category", r.v[fCategory])
	p.set("brand", r.v[fBrand])
	p.set("variant", r.v[fVariant])
	p.float("quantity", q)
	p.num("price", r.v[fPrice])
	product := p.bytes()
	if set.truncated || set.n == maxOrderProducts || len(set.products)+len(product)+1 > maxOrderProductBytes {
		set.truncated = true
		return
	}
	if set.n > 0 {
		set.products = append(set.products, ',')
	}
	set.products = append(set.products, product...)
	set.n++
}

// closeOrder turns the order being read into its events. An order whose lines the file had
// already closed (its lines are not together) is refused rather than recorded in parts: the
// profile keeps one occurrence of an order id, so a second part would replace the first.
func (rd *Reader) closeOrder() {
	g := rd.order
	if g == nil {
		return
	}
	rd.order = nil
	key := newIDHash(rd.spec.Kind, "order")
	key.str(g.id)
	_, orderKey := key.sum()
	earlier, seen := rd.orders.get(orderKey)
	if !seen {
		rd.orders.put(orderKey, uint32(g.first.line))
	}
	first := g.first
	for i, event := range []string{EventOrderCompleted, EventOrderRefunded} {
		set := &g.sets[i]
		if len(set.lines) == 0 {
			continue
		}
		id, idKey := set.h.sum()
		if _, dup := rd.events.get(idKey); dup {
			rd.status.Duplicates += int64(len(set.lines))
			continue
		}
		if seen {
			rd.rejectLines(set.lines, fmt.Sprintf("order %s has lines apart from each other (the first from line %d): put an order's lines one after another", short(g.id), earlier))
			continue
		}
		p := newObject()
		p.set("order_id", first.v[fOrderID])
		p.float("revenue", round6(set.revenue))
		currency := first.v[fCurrency].text
		if currency == "" {
			currency = rd.spec.Currency
		}
		p.strIf("currency", currency, currency != "")
		p.set("channel", first.v[fChannel])
		p.set("store", first.v[fStore])
		p.set("coupon", first.v[fCoupon])
		rd.addCustom(p, first)
		p.raw("products", append(append([]byte{'['}, set.products...), ']'))
		if set.truncated {
			p.boolean("products_truncated", true)
		}
		props := p.bytes()
		if len(props) > beacon.MaxEventBytes-1024 {
			rd.rejectLines(set.lines, fmt.Sprintf("order %s makes an event of more than %d bytes", short(g.id), beacon.MaxEventBytes))
			continue
		}
		e := rd.newEvent(first, beacon.Track, event, id, first.v[fTimestamp].t, props, nil, context(first.v[fEmail], first.v[fPhone], nil))
		rd.emit(set.lines[0], set.lines[len(set.lines)-1], int64(len(set.lines)), []beacon.Event{e}, []uint64{idKey})
	}
}
