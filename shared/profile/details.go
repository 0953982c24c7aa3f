package profile

import (
	"cmp"
	"encoding/json"
	"math"
	"net/url"
	"strconv"
	"strings"

	"github.com/dcrm-project/dcrm/shared/beacon"
)

// MaxLines bounds the products read from one event.
const MaxLines = 100

// readDetails sets what sessions and commerce read from an event: its campaign, channel and
// page, and for track events the products, order, form and engaged time its properties name.
// Properties of the wrong shape are ignored rather than refused: they cost the event its
// details, never its place in the profile.
func readDetails(e beacon.Event, a *Activity) {
	if en := e.Enrichment; en != nil {
		a.Channel = bounded(en.Channel)
		if c := en.Campaign; c != nil {
			a.Campaign = Campaign{Source: bounded(c.Source), Medium: bounded(c.Medium), Name: bounded(c.Name), ClickID: bounded(c.ClickID)}
		}
	}
	var props map[string]any
	if len(e.Properties) > 0 {
		_ = json.Unmarshal(e.Properties, &props) // not an object: no properties
	}
	ctx := readContext(e.Context)
	for _, purpose := range []string{PurposeAnalytics, PurposeMarketing} {
		if granted, ok := ctx.Consent[purpose].(bool); ok { // null or anything else: no answer
			if a.Consent == nil {
				a.Consent = map[string]Consent{}
			}
			a.Consent[purpose] = Consent{Granted: granted, At: a.At, Source: EventSource}
		}
	}
	switch e.Type {
	case beacon.Page:
		a.Page = pagePath(ctx, props)
	case beacon.Screen:
		a.Page = bounded(e.Name)
	case beacon.Track:
		a.Event = e.Event
		switch eventKey(e.Event) {
		case eventPagePing:
			a.Engaged = DefaultPingSeconds
			if v, ok := number(props["engagedSeconds"]); ok && v >= 0 {
				a.Engaged = int(math.Min(v, MaxPingSeconds))
			}
		case eventProductViewed, eventProductAdded, eventProductRemoved, eventOrderCompleted, eventOrderRefunded:
			a.Products = lines(props)
			if k := eventKey(e.Event); k == eventOrderCompleted || k == eventOrderRefunded {
				a.OrderID = bounded(text(props["order_id"], props["orderId"]))
				a.SalesChannel = strings.ToLower(bounded(text(props["channel"])))
				a.Store = bounded(text(props["store"], props["store_id"], props["storeId"]))
				if v, ok := number(props["revenue"]); ok {
					a.Revenue = v
				} else if v, ok := number(props["total"]); ok {
					a.Revenue = v
				} else if k == eventOrderRefunded {
					a.Revenue = refundValue(props)
				}
				if k == eventOrderRefunded {
					a.Revenue = math.Abs(a.Revenue)
				}
			}
		case eventFormStarted, eventFormSubmitted:
			a.FormID = bounded(text(props["formId"], props["form_id"], props["form_name"]))
		case eventCaseOpened, eventCaseUpdated, eventCaseClosed:
			readCase(e.Event, props, a)
		}
	}
	if kind, channel := impressionOf(e.Type, e.Event, e.Pixel); kind != "" {
		// What an impression keeps is its kind, channel and campaign: the campaign's name as email
		// tools send it (Segment's email spec) when the context names none.
		a.Impression, a.Channel = kind, cmp.Or(a.Channel, channel)
		a.Engaged, a.Products, a.OrderID, a.Revenue, a.FormID, a.SalesChannel, a.Store, a.Case = 0, nil, "", 0, "", "", "", nil
		if a.Campaign.Name == "" {
			a.Campaign.Name = bounded(text(props["campaign_name"], props["campaignName"], props["campaign"], props["campaign_id"], props["campaignId"]))
		}
	}
}

// refundValue is the value of a refund that states no total: its products' price × quantity, the
// quantity taken as a count whatever its sign (a returned line often says -2).
func refundValue(props map[string]any) float64 {
	items, ok := props["products"].([]any)
	if !ok {
		items = []any{props}
	}
	var v float64
	for i, item := range items {
		m, ok := item.(map[string]any)
		if !ok || i >= MaxLines {
			continue
		}
		price, _ := number(m["price"])
		q, ok := number(m["quantity"])
		if !ok {
			q = 1
		}
		v += math.Abs(price) * math.Min(math.Abs(q), 1e6)
	}
	return v
}

// lines reads the products of an e-commerce event (product_id, quantity, price, category):
// properties.products[] or, without it, the properties themselves.
func lines(props map[string]any) []Line {
	var out []Line
	read := func(m map[string]any) {
		id := bounded(text(m["product_id"], m["productId"]))
		if id == "" || len(out) >= MaxLines {
			return
		}
		l := Line{ProductID: id, Quantity: 1, Category: bounded(text(m["category"]))}
		if q, ok := number(m["quantity"]); ok && q >= 1 {
			l.Quantity = int(math.Min(q, 1e6))
		}
		if p, ok := number(m["price"]); ok {
			l.Price = p
		}
		out = append(out, l)
	}
	if list, ok := props["products"].([]any); ok {
		for _, item := range list {
			if m, ok := item.(map[string]any); ok {
				read(m)
			}
		}
	}
	if len(out) == 0 {
		read(props)
	}
	return out
}

// eventContext is what an event's context tells sessions and consent: the page, and the consent
// state of the tracker (true, false, or null while undecided).
type eventContext struct {
	Page    map[string]any `json:"page"`
	Consent map[string]any `json:"consent"`
}

// readContext reads an event's context as json.Unmarshal into an eventContext does (not an object:
// no context), decoding only the page and the consent: the rest (the user agent, the library, the
// campaign …) is most of a context and is only scanned.
func readContext(raw json.RawMessage) eventContext {
	var ctx eventContext
	members, _ := beacon.Members(raw)
	for _, m := range members {
		// encoding/json matches names regardless of case, decodes equal names in turn into the
		// same map, and skips a value of the wrong type.
		switch {
		case strings.EqualFold(m.Name, "page"):
			_ = json.Unmarshal(m.Value, &ctx.Page)
		case strings.EqualFold(m.Name, "consent"):
			_ = json.Unmarshal(m.Value, &ctx.Consent)
		}
	}
	return ctx
}

// pagePath is the path of the page a page call reports: context.page.path, properties.path, or
// the path of context.page.url or properties.url.
func pagePath(ctx eventContext, props map[string]any) string {
	if p := text(ctx.Page["path"], props["path"]); p != "" {
		return bounded(p)
	}
	if u, err := url.Parse(text(ctx.Page["url"], props["url"])); err == nil {
		return bounded(u.EscapedPath())
	}
	return ""
}

// text returns the first of values that is a non-empty string or a number, as a string.
func text(values ...any) string {
	for _, v := range values {
		switch v := v.(type) {
		case string:
			if v != "" {
				return v
			}
		case float64:
			return strconv.FormatFloat(v, 'f', -1, 64)
		}
	}
	return ""
}

// Number reads a JSON number or a numeric string (as properties hold amounts); a value that is
// neither, or not finite, is none.
func Number(v any) (float64, bool) { return number(v) }

// number reads a JSON number or a numeric string.
func number(v any) (float64, bool) {
	var f float64
	switch v := v.(type) {
	case float64:
		f = v
	case string:
		var err error
		if f, err = strconv.ParseFloat(strings.TrimSpace(v), 64); err != nil {
			return 0, false
		}
	default:
		return 0, false
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}

// bounded cuts s to at most MaxPageLength bytes of valid UTF-8.
func bounded(s string) string {
	if len(s) <= MaxPageLength {
		return s
	}
	return strings.ToValidUTF8(s[:MaxPageLength], "")
}
