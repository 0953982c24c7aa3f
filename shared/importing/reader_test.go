package importing

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"maps"
	"reflect"
	"strings"
	"testing"

	"github.com/dcrm-project/dcrm/shared/beacon"
	"github.com/dcrm-project/dcrm/shared/enrich"
	"github.com/dcrm-project/dcrm/shared/pii"
	"github.com/dcrm-project/dcrm/shared/profile"
)

const customersCSV = "\xef\xbb\xbfuserId,email,phone,firstName,tier,city,country,Shoe size\r\n" +
	"c1, Ann.Lee@Example.COM ,07700 900123,Ann,gold,Leeds,UK,38\r\n" +
	"c2,,,Bob,,,,\r\n"

func TestGzipIsFoundByItsMagicBytesAndTheFormatByTheFirstCharacter(t *testing.T) {
	var gz bytes.Buffer
	w := gzip.NewWriter(&gz)
	w.Write([]byte(customersCSV))
	w.Close()
	// A second gzip member (files concatenated) is read on.
	w = gzip.NewWriter(&gz)
	w.Write([]byte("c3,,,Cy,,,,\r\n"))
	w.Close()
	plain, st := readAll(t, customersCSV+"c3,,,Cy,,,,\r\n", spec(Customers))
	zipped, stz := readAll(t, gz.String(), spec(Customers))
	if !stz.Gzip || st.Gzip || stz.Format != CSV {
		t.Errorf("status: %+v / %+v", st, stz)
	}
	if !reflect.DeepEqual(plain, zipped) || len(events(plain)) != 3 {
		t.Errorf("gzip read otherwise: %d and %d outputs", len(plain), len(zipped))
	}

	jsonl := "\n  {\"userId\":\"c1\",\"email\":\"ann@example.com\",\"tier\":\"gold\",\"Shoe size\":38}\n\n{\"userId\":\"c2\",\"tier\":null}\n"
	out, st := readAll(t, jsonl, spec(Customers))
	if st.Format != JSONLines || st.Rows != 2 || len(events(out)) != 2 || strings.Join(st.UnknownColumns, ",") != "Shoe size" {
		t.Errorf("JSON Lines: %+v %+v", st, out)
	}
	if out[0].Line != 2 || out[1].Line != 4 {
		t.Errorf("lines %d and %d, want 2 and 4", out[0].Line, out[1].Line)
	}
	// The format may be given; a corrupt gzip stream is the stream's error, after what came before it.
	s := spec(Customers)
	s.Format = CSV
	broken := gz.Bytes()[:len(gz.Bytes())-6]
	rd, err := NewReader(bytes.NewReader(broken), s)
	if err != nil {
		t.Fatal(err)
	}
	for err == nil {
		_, err = rd.Next()
	}
	if !strings.Contains(err.Error(), "unexpected EOF") {
		t.Errorf("truncated gzip: %v", err)
	}
}

func TestJSONLinesRowsAreFlatObjects(t *testing.T) {
	s := spec(Customers)
	s.Mapping = Mapping{"traits.shoe_size": "Shoe size"}
	file := `{"userId":"c1","Shoe size":38.5,"tier":"gold"}` + "\n" +
		`{"userId":"c2","tier":{"level":1}}` + "\n" +
		`{"userId":"c3",` + "\n" +
		`["c4"]` + "\n" +
		`{"userId":"c5"} {"userId":"c6"}` + "\n" +
		`{"userId":"c7","userId":"c8","tier":true}` + "\n"
	out, st := readAll(t, file, s)
	want := []string{
		`member "tier" is an object or a list: rows are flat (one value per field)`,
		"the line is not valid JSON: it ends early",
		"the line is not a JSON object",
		"the line has more after its JSON object (one object a line)",
	}
	var got []string
	for _, r := range rejections(out) {
		got = append(got, r.Reason)
	}
	if !reflect.DeepEqual(got, want) || st.Rejected != 4 || st.Imported != 2 {
		t.Errorf("reasons %q, status %+v", got, st)
	}
	evs := events(out)
	if evs[0].Event.UserID != "c1" || !strings.Contains(string(evs[0].Event.Traits), `"shoe_size":"38.5"`) {
		t.Errorf("first event: %s %s", evs[0].Event.UserID, evs[0].Event.Traits)
	}
	if evs[1].Event.UserID != "c8" || !strings.Contains(string(evs[1].Event.Traits), `"tier":"true"`) {
		t.Errorf("a member sent twice counts with its last value: %s %s", evs[1].Event.UserID, evs[1].Event.Traits)
	}
}

// A customer is an identify call whose personal data is hashed and redacted exactly as the
// collection endpoint does it for the same call from a trusted source.
func TestCustomersAreIdentifyCallsWithPersonalDataAsTheEndpointLeavesIt(t *testing.T) {
	s := spec(Customers)
	s.Source.PhoneCountryCode = "44"
	s.Mapping = Mapping{"traits.shoe_size": "Shoe size"}
	out, st := readAll(t, customersCSV, s)
	if st.Rows != 2 || st.Events != 2 {
		t.Fatalf("status %+v", st)
	}
	e := out[0].Event
	if e.Type != beacon.Identify || e.UserID != "c1" || !e.Trusted || e.SourceID != "src-import" || !e.ReceivedAt.Equal(importedAt) || !e.Timestamp.Equal(importedAt) {
		t.Errorf("event %+v", e)
	}
	raw, _ := json.Marshal(e)
	for _, personal := range []string{"Ann", "ann.lee", "900123"} {
		if bytes.Contains(bytes.ToLower(raw), bytes.ToLower([]byte(personal))) {
			t.Errorf("%q in clear on the stream: %s", personal, raw)
		}
	}

	// The same call through the endpoint's parsing and enrichment.
	body := `{"userId":"c1","messageId":"m","traits":{"email":" Ann.Lee@Example.COM ","phone":"07700 900123","firstName":"Ann","tier":"gold","address":{"city":"Leeds","country":"UK"},"shoe_size":"38"}}`
	p, err := beacon.Decode(beacon.Identify, []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	src := s.Source
	src.Trusted = true
	collected, rejected := p.Split(src, importedAt, nil)
	if len(rejected) > 0 {
		t.Fatal(rejected)
	}
	enrich.New(noAgents{}).Events(collected, enrich.Request{Source: src})
	c := collected[0]
	if !maps.Equal(e.Hashed, c.Hashed) || e.Hashed[pii.EmailKey] != pii.Hash("ann.lee@example.com") || e.Hashed[pii.PhoneKey] != pii.Hash("+447700900123") {
		t.Errorf("hashed %v, the endpoint's %v", e.Hashed, c.Hashed)
	}
	if !jsonEqual(e.Traits, c.Traits) {
		t.Errorf("traits %s, the endpoint's %s", e.Traits, c.Traits)
	}

	// A source that keeps raw personal data keeps it here too.
	s.Source.KeepRawPII = true
	out, _ = readAll(t, customersCSV, s)
	if k := out[0].Event; !k.RawPII || !strings.Contains(string(k.Traits), `"firstName":"Ann"`) || !maps.Equal(k.Hashed, c.Hashed) {
		t.Errorf("raw personal data: %s %v", k.Traits, k.Hashed)
	}
}

func jsonEqual(a, b []byte) bool {
	var x, y any
	return json.Unmarshal(a, &x) == nil && json.Unmarshal(b, &y) == nil && reflect.DeepEqual(x, y)
}

// Message ids come from the rows' content: the same file gives the same ids, whatever its
// columns are called or their order; a changed row gets a new id; a row repeated in the file is
// a duplicate.
func TestMessageIDsAreDeterministic(t *testing.T) {
	file := "userId,email,tier\nc1,ann@example.com,gold\nc2,bob@example.com,silver\nc1,ann@example.com,gold\n"
	ids := func(file string, m Mapping) []string {
		s := spec(Customers)
		s.Mapping = m
		out, st := readAll(t, file, s)
		var ids []string
		for _, o := range events(out) {
			ids = append(ids, o.Event.MessageID)
		}
		if st.Duplicates != 1 || st.Rows != 3 {
			t.Errorf("status %+v", st)
		}
		return ids
	}
	a := ids(file, nil)
	b := ids(file, nil)
	c := ids("Level,Mail,Id\ngold,ANN@example.com,c1\nsilver,bob@example.com,c2\ngold,ann@example.com,c1\n", Mapping{"userId": "Id", "email": "Mail", "tier": "Level"})
	d := ids("userId,email,tier\nc1,ann@example.com,platinum\nc2,bob@example.com,silver\nc1,ann@example.com,platinum\n", nil)
	if len(a) != 2 || !reflect.DeepEqual(a, b) || !reflect.DeepEqual(a, c) {
		t.Errorf("ids %v, %v, %v", a, b, c)
	}
	if d[0] == a[0] || d[1] != a[1] {
		t.Errorf("a changed row keeps its id, or an unchanged one changes: %v %v", a, d)
	}
	if !strings.HasPrefix(a[0], MessageIDPrefix) || len(a[0]) != len(MessageIDPrefix)+32 {
		t.Errorf("id %q", a[0])
	}
}

const ordersCSV = "order_id,timestamp,userId,email,product_id,name,quantity,price,revenue,currency,channel,store\n" +
	"o1,2024-01-02T10:00:00Z,u1,,p1,Shoe,2,10,,EUR,Store,Leeds\n" + // 2
	"o1,2024-01-02T10:01:00Z,u1,,p2,Sock,1,2.5,,EUR,store,Leeds\n" + // 3: same order, a minute later
	"o1,2024-01-02T10:01:00Z,u1,,p1,Shoe,-1,10,,EUR,store,Leeds\n" + // 4: a line returned at the till
	"o2,2024-01-03,,ann@example.com,p3,Hat,1,,30,,web,\n" + // 5: no userId: the email finds the person
	"o3,2024-01-04,u2,,p1,Shoe,1,10,,EUR,,\n" + // 6
	"o3,2024-01-04,u3,,p2,Sock,1,2,,EUR,,\n" + // 7: another customer in the same order
	"o3,2024-01-04,u2,,p2,Sock,0,2,,EUR,,\n" + // 8: quantity 0
	"o4,2024-01-05,u2,,p1,Shoe,1,,,EUR,,\n" + // 9: no price or revenue
	"o2,2024-01-06,,ann@example.com,p4,Cap,1,5,,,,\n" + // 10: o2 again, apart from its first line
	"o5,2024-01-07,u2,,p1,Shoe,1,10,-10,EUR,,\n" + // 11: negative revenue on a line bought
	"o3,2024-01-04,u2,,p1,Shoe,1,10,,EUR,,\n" // 12: o3 again, as it was: a duplicate

func TestOrdersGroupLinesIntoOrdersAndReturns(t *testing.T) {
	s := spec(Orders)
	s.Currency = "gbp"
	out, st := readAll(t, ordersCSV, s)
	wantStatus := Status{Kind: Orders, Format: CSV, Rows: 11, Imported: 5, Rejected: 5, Duplicates: 1, Events: 4}
	st.Columns, st.UnknownColumns = nil, nil
	if !reflect.DeepEqual(st, wantStatus) {
		t.Errorf("status %+v\nwant   %+v", st, wantStatus)
	}
	wantRejected := map[int]string{
		7:  "order o3 has another userId on its first line (line 6): an order is one customer's, in one currency",
		8:  "quantity is 0 (a line has units bought, or returned when negative)",
		9:  "the line needs a price or a revenue",
		10: "order o2 has lines apart from each other (the first from line 5): put an order's lines one after another",
		11: "revenue is negative on a line bought (a return is a line with a negative quantity)",
	}
	for _, r := range rejections(out) {
		if wantRejected[r.Line] != r.Reason {
			t.Errorf("line %d: %q, want %q", r.Line, r.Reason, wantRejected[r.Line])
		}
		delete(wantRejected, r.Line)
	}
	if len(wantRejected) > 0 {
		t.Errorf("not rejected: %v", wantRejected)
	}

	type props struct {
		OrderID  string  `json:"order_id"`
		Revenue  float64 `json:"revenue"`
		Currency string  `json:"currency"`
		Channel  string  `json:"channel"`
		Store    string  `json:"store"`
		Products []struct {
			ProductID string  `json:"product_id"`
			Quantity  float64 `json:"quantity"`
			Price     float64 `json:"price"`
		} `json:"products"`
	}
	evs := events(out)
	got := make([]props, len(evs))
	for i, o := range evs {
		if err := json.Unmarshal(o.Event.Properties, &got[i]); err != nil {
			t.Fatal(err)
		}
	}
	if e := evs[0]; e.Event.Event != EventOrderCompleted || e.Line != 2 || e.LastLine != 3 || got[0].Revenue != 22.5 || got[0].Currency != "EUR" ||
		got[0].Channel != "store" || got[0].Store != "Leeds" || len(got[0].Products) != 2 || e.Event.Timestamp.Format("15:04") != "10:00" {
		t.Errorf("order o1: lines %d-%d %+v at %v", e.Line, e.LastLine, got[0], e.Event.Timestamp)
	}
	if e := evs[1]; e.Event.Event != EventOrderRefunded || got[1].OrderID != "o1" || got[1].Revenue != -10 || got[1].Products[0].Quantity != -1 {
		t.Errorf("o1's return: %s %+v", e.Event.Event, got[1])
	}
	if e := evs[2]; e.Event.UserID != "" || e.Event.AnonymousID != MessageIDPrefix+pii.Hash("email:ann@example.com")[:32] ||
		e.Event.Hashed[pii.EmailKey] != pii.Hash("ann@example.com") || got[2].Revenue != 30 || got[2].Currency != "GBP" || strings.Contains(string(e.Event.Context), "ann@") {
		t.Errorf("order o2: %+v %+v %s", e.Event, got[2], e.Event.Context)
	}
	if got[3].OrderID != "o3" || got[3].Revenue != 10 {
		t.Errorf("order o3: %+v", got[3])
	}
	// What the profile reads of them.
	for _, o := range evs {
		a, err := profile.FromEvent(*o.Event)
		if err != nil {
			t.Fatalf("%s: %v", o.Event.MessageID, err)
		}
		if o.Event.Event == EventOrderCompleted && (!profile.IsPurchase(a) || a.OrderID == "" || a.Revenue <= 0) {
			t.Errorf("the profile does not see order %+v", a)
		}
	}
	// Every event fits a stream record.
	if _, err := beacon.EncodeRecord([]beacon.Event{*evs[0].Event}); err != nil {
		t.Error(err)
	}
}

func TestReturnsKindMakesEveryLineAReturn(t *testing.T) {
	out, st := readAll(t, "order_id,timestamp,userId,quantity,revenue,currency\nr1,2024-02-01,u1,2,30,EUR\nr1,2024-02-01,u1,-1,-5,EUR\n", spec(Returns))
	evs := events(out)
	if st.Events != 1 || evs[0].Event.Event != EventOrderRefunded || !strings.Contains(string(evs[0].Event.Properties), `"revenue":-35`) ||
		!strings.Contains(string(evs[0].Event.Properties), `{"quantity":-2},{"quantity":-1}`) {
		t.Errorf("%+v %s", st, evs[0].Event.Properties)
	}
}

func TestALargeOrderKeepsItsRevenueAndListsItsFirstLines(t *testing.T) {
	var b strings.Builder
	b.WriteString("order_id,timestamp,userId,product_id,price\n")
	for i := range 150 {
		b.WriteString("big,2024-01-01,u1,p" + strings.Repeat("x", i%3) + ",1\n")
	}
	out, st := readAll(t, b.String(), spec(Orders))
	var p struct {
		Revenue   float64           `json:"revenue"`
		Products  []json.RawMessage `json:"products"`
		Truncated bool              `json:"products_truncated"`
	}
	json.Unmarshal(out[0].Event.Properties, &p)
	if st.Events != 1 || st.Imported != 150 || p.Revenue != 150 || len(p.Products) != maxOrderProducts || !p.Truncated {
		t.Errorf("%+v: revenue %v, %d products, truncated %v", st, p.Revenue, len(p.Products), p.Truncated)
	}
}

func TestContactsCasesAndConsents(t *testing.T) {
	contacts := "userId,type,timestamp,campaign_name,outcome,duration,direction\n" +
		"u1,Email Opened,2024-03-01T09:00:00Z,Spring,,,\n" +
		"u1,call,2024-03-02T09:00:00Z,,Sale,300,inbound\n" +
		"u1,fax,2024-03-02T09:00:00Z,,,,\n"
	out, st := readAll(t, contacts, spec(Contacts))
	evs := events(out)
	if st.Events != 2 || evs[0].Event.Event != "Email Opened" || evs[1].Event.Event != "Call Completed" ||
		!strings.Contains(string(evs[1].Event.Properties), `"channel":"phone","direction":"inbound","outcome":"sale","duration":300`) {
		t.Errorf("contacts %+v %s", st, evs[1].Event.Properties)
	}
	if r := rejections(out); len(r) != 1 || !strings.HasPrefix(r[0].Reason, `type "fax" is not one of call, chat, email_bounced`) {
		t.Errorf("rejections %+v", r)
	}

	open := "case_id,userId,opened_at,closed_at,topic,status\nk1,u1,2024-03-01T10:00:00Z,,Late delivery,\n"
	closed := "case_id,userId,opened_at,closed_at,topic,status\nk1,u1,2024-03-01T10:00:00Z,2024-03-03T10:00:00Z,Late delivery,\n"
	first, _ := readAll(t, open, spec(Cases))
	second, _ := readAll(t, closed, spec(Cases))
	if len(first) != 1 || len(second) != 2 || first[0].Event.MessageID != second[0].Event.MessageID || second[1].Event.Event != EventCaseClosed ||
		!strings.Contains(string(second[1].Event.Properties), `"status":"closed"`) || !second[1].Event.Timestamp.Equal(second[0].Event.Timestamp.Add(48*3600e9)) {
		t.Errorf("cases: %+v / %+v", first, second)
	}
	bad, _ := readAll(t, "case_id,userId,opened_at,closed_at\nk2,u1,2024-03-02,2024-03-01\n", spec(Cases))
	if r := rejections(bad); len(r) != 1 || r[0].Reason != "closed_at is before opened_at" {
		t.Errorf("%+v", bad)
	}

	consents := "email,purpose,granted,timestamp,channel,source\nann@example.com,Marketing,withdrawn,2024-03-05T08:00:00Z,email,store form\n"
	out, _ = readAll(t, consents, spec(Consents))
	e := out[0].Event
	a, err := profile.FromEvent(*e)
	if err != nil || e.Event != EventConsentUpdated || len(a.Consent) != 1 || a.Consent[profile.PurposeMarketing].Granted || !a.Consent[profile.PurposeMarketing].At.Equal(e.Timestamp) {
		t.Errorf("consent %+v %v: %+v", e, err, a.Consent)
	}
}

func TestSpendIsARecordOfItsOwn(t *testing.T) {
	file := "date,channel,campaign_name,cost,currency,clicks\n2024-03-01,Paid Search,Spring,120.50,eur,300\n2024-03-01,Paid Search,Spring,120.50,EUR,300\n2024-03-02,email,,5,,\n"
	out, st := readAll(t, file, spec(Spend))
	sp := out[0].Spend
	if st.Spend != 1 || st.Duplicates != 1 || st.Rejected != 1 || sp == nil || sp.Date != "2024-03-01" || sp.Channel != "paid search" || sp.Cost != 120.5 || sp.Currency != "EUR" || sp.Clicks != 300 || sp.SourceID != "src-import" {
		t.Errorf("%+v %+v", st, sp)
	}
	if r := rejections(out); r[0].Reason != "currency is missing, and the import names none" {
		t.Errorf("%+v", r)
	}
}

func TestTimesTheEngineWouldNotBelieveAreRejected(t *testing.T) {
	file := "userId,type,timestamp\nu1,call,2026-03-01T12:04:00Z\nu1,call,2026-03-01T12:06:00Z\nu1,call,2000-01-01\n"
	out, _ := readAll(t, file, spec(Contacts))
	r := rejections(out)
	if len(out) != 3 || len(r) != 2 || r[0].Reason != "timestamp 2026-03-01T12:06:00Z is after the import began (2026-03-01T12:00:00Z)" || r[1].Reason != "timestamp 2000-01-01T00:00:00Z is more than 20 years before the import" {
		t.Errorf("%+v", r)
	}
}

func TestRejectedRowsSayWhereAndWhyWithoutPersonalData(t *testing.T) {
	file := "userId,email,phone,firstName,tier\n" +
		"u1,ann@example.com,07700 900123,Ann,\"gold\n" + // unclosed quote to the end
		"\n"
	out, st := readAll(t, file, spec(Customers))
	if st.Rejected != 1 || out[0].Rejected.Line != 2 || out[0].Rejected.LastLine != 3 {
		t.Fatalf("%+v %+v", st, out)
	}
	out, _ = readAll(t, "userId,email,phone,firstName,tier\nu1,ann@example.com,07700 900123,Ann,"+strings.Repeat("g", 65)+"\n", spec(Customers))
	r := out[0].Rejected
	if r.Reason != "tier is longer than 64 bytes" || bytes.Contains(r.Row, []byte("ann@")) || bytes.Contains(r.Row, []byte("Ann")) || bytes.Contains(r.Row, []byte("900123")) ||
		!bytes.Contains(r.Row, []byte(`"userId":"u1"`)) || !bytes.Contains(r.Row, []byte(pii.HashedPrefix+pii.Hash("ann@example.com"))) {
		t.Errorf("rejection %+v: %s", r, r.Row)
	}
	if _, err := NewReader(strings.NewReader(""), Spec{Kind: Customers, ReceivedAt: importedAt}); !errors.Is(err, ErrSpec) {
		t.Errorf("no source: %v", err)
	}
}
