package importing

import (
	"fmt"
	"slices"
	"strings"
)

// Kind is what the rows of a file describe.
type Kind string

// Kinds of import.
const (
	Customers Kind = "customers" // people: identifiers and traits (identify)
	Orders    Kind = "orders"    // order lines, online or in a store; a negative quantity is a return
	Returns   Kind = "returns"   // returned order lines: every line is a return, whatever its sign
	Contacts  Kind = "contacts"  // outbound messages and the responses to them, calls, mail
	Cases     Kind = "cases"     // service cases
	Consents  Kind = "consents"  // consent granted or withdrawn, per purpose
	Spend     Kind = "spend"     // marketing spend per channel, campaign and day (not about a person)
)

// AllKinds lists the kinds in the order the documentation gives them.
var AllKinds = []Kind{Customers, Orders, Returns, Contacts, Cases, Consents, Spend}

// ParseKind reads a kind by its name.
func ParseKind(s string) (Kind, error) {
	k := Kind(strings.ToLower(strings.TrimSpace(s)))
	if slices.Contains(AllKinds, k) {
		return k, nil
	}
	return "", fmt.Errorf("%w: unknown kind %q (one of %s)", ErrSpec, short(s), kindList())
}

func kindList() string {
	names := make([]string, len(AllKinds))
	for i, k := range AllKinds {
		names[i] = string(k)
	}
	return strings.Join(names, ", ")
}

// Type is the type of a field's values, as written in a file.
type Type string

// Types of field. Every value is read from text (a CSV cell, or a JSON Lines value: a string, a
// number or a boolean); an empty value, or null, is a missing one.
const (
	String   Type = "string"   // text, at most MaxLength bytes of UTF-8, no control characters
	ID       Type = "id"       // an identifier: String, and not a word standing for "no value" (null, 0 …)
	Label    Type = "label"    // a short name compared without case: String, lower-cased
	Email    Type = "email"    // an email address (normalised and hashed as the endpoint does)
	Phone    Type = "phone"    // a phone number (normalised to E.164 and hashed as the endpoint does)
	Integer  Type = "integer"  // a whole number in decimal digits, within Min and Max
	Number   Type = "number"   // a decimal number ("1234.5", "-3", "1e3"; no thousands separators), within Min and Max
	Time     Type = "time"     // an ISO 8601 time or date, or the import's time layout (see ParseTime)
	Date     Type = "date"     // a day: as Time, only the calendar day is kept
	Enum     Type = "enum"     // one of Values, in any case
	Bool     Type = "bool"     // true/false, yes/no, y/n, 1/0 (and granted/withdrawn for consent)
	Currency Type = "currency" // an ISO 4217 code of three letters, upper-cased
)

// Field is one value a row of a kind may carry.
type Field struct {
	Name      string   `json:"name"`
	Type      Type     `json:"type"`
	Required  bool     `json:"required,omitempty"`
	MaxLength int      `json:"maxLength,omitempty"` // String, ID, Label: bytes
	Min       *float64 `json:"min,omitempty"`       // Integer, Number
	Max       *float64 `json:"max,omitempty"`       // Integer, Number
	Values    []string `json:"values,omitempty"`    // Enum
	Doc       string   `json:"doc"`
}

// field ids: every field name means one thing in every kind that has it.
type fieldID int

const (
	fUserID fieldID = iota
	fAnonymousID
	fEmail
	fPhone
	fTimestamp
	// customers
	fFirstName
	fLastName
	fBirthday
	fCreatedAt
	fTier
	fCity
	fCountry
	// orders and returns
	fOrderID
	fProductID
	fSKU
	fProductName
	fCategory
	fBrand
	fVariant
	fQuantity
	fPrice
	fRevenue
	fCurrency
	fChannel
	fStore
	fCoupon
	// contacts
	fContactType
	fContactID
	fDirection
	fCampaignID
	fCampaignName
	fOutcome
	fDuration
	fLinkURL
	// cases
	fCaseID
	fOpenedAt
	fClosedAt
	fStatus
	fTopic
	fPriority
	// consents
	fPurpose
	fGranted
	fSource
	// spend
	fDate
	fMedium
	fCost
	fImpressions
	fClicks
	numFields
)

func bound(v float64) *float64 { return &v }

// Bounds of the values. Amounts are bounded far beyond any real order so that a sum of a file's
// lines stays exact enough in a float64; quantities, so that a typo (a bar code in the quantity
// column) is caught.
const (
	maxQuantity = 1_000_000
	maxAmount   = 1e12
	maxCount    = 1e15
	maxDuration = 7 * 24 * 3600 // seconds: a week
)

// ContactTypes maps a contact's type to the event it becomes. Names follow Segment's email and
// mobile specs where they have one.
var ContactTypes = map[string]struct{ Event, Channel string }{
	"email_sent":      {"Email Sent", "email"},
	"email_delivered": {"Email Delivered", "email"},
	"email_opened":    {"Email Opened", "email"},
	"email_clicked":   {"Email Link Clicked", "email"},
	"email_bounced":   {"Email Bounced", "email"},
	"email_spam":      {"Email Marked as Spam", "email"},
	"unsubscribed":    {"Unsubscribed", "email"},
	"sms_sent":        {"SMS Sent", "sms"},
	"sms_clicked":     {"SMS Link Clicked", "sms"},
	"push_sent":       {"Push Notification Sent", "push"},
	"push_opened":     {"Push Notification Tapped", "push"},
	"call":            {"Call Completed", "phone"},
	"mail_sent":       {"Mail Sent", "mail"},
	"chat":            {"Chat Completed", "chat"},
	"meeting":         {"Meeting Held", "in person"},
}

func contactTypeNames() []string {
	names := make([]string, 0, len(ContactTypes))
	for n := range ContactTypes {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// fields are the definitions of every field, by id.
var fields = [numFields]Field{
	fUserID:      {Name: "userId", Type: ID, MaxLength: 256, Doc: "the customer's id in the company's systems (the CRM id, the shop's customer number): the event's userId"},
	fAnonymousID: {Name: "anonymousId", Type: ID, MaxLength: 256, Doc: "a visitor's anonymous id, when the row comes from a system that knows it"},
	fEmail:       {Name: "email", Type: Email, Doc: "the customer's email address; on the stream only as its SHA-256 (hashed.email_sha256), unless the source keeps raw personal data"},
	fPhone:       {Name: "phone", Type: Phone, Doc: "the customer's phone number; on the stream only as the SHA-256 of its E.164 form (hashed.phone_sha256), unless the source keeps raw personal data"},
	fTimestamp:   {Name: "timestamp", Type: Time, Doc: "when it happened"},

	fFirstName: {Name: "firstName", Type: String, MaxLength: 100, Doc: "first name (redacted on the stream unless the source keeps raw personal data)"},
	fLastName:  {Name: "lastName", Type: String, MaxLength: 100, Doc: "last name (redacted on the stream unless the source keeps raw personal data)"},
	fBirthday:  {Name: "birthday", Type: Date, Doc: "date of birth (redacted on the stream unless the source keeps raw personal data)"},
	fCreatedAt: {Name: "createdAt", Type: Time, Doc: "when the customer's record was created (a customer since)"},
	fTier:      {Name: "tier", Type: String, MaxLength: 64, Doc: "loyalty tier or segment the company gives the customer"},
	fCity:      {Name: "city", Type: String, MaxLength: 100, Doc: "city of the customer's address (traits.address.city)"},
	fCountry:   {Name: "country", Type: String, MaxLength: 100, Doc: "country of the customer's address (traits.address.country)"},

	fOrderID:     {Name: "order_id", Type: ID, MaxLength: 128, Doc: "the order (invoice, receipt) the line belongs to; consecutive lines of one order make one event"},
	fProductID:   {Name: "product_id", Type: ID, MaxLength: 128, Doc: "the product's id"},
	fSKU:         {Name: "sku", Type: String, MaxLength: 128, Doc: "the product's stock keeping unit"},
	fProductName: {Name: "name", Type: String, MaxLength: 200, Doc: "the product's name"},
	fCategory:    {Name: "category", Type: String, MaxLength: 200, Doc: "the product's category"},
	fBrand:       {Name: "brand", Type: String, MaxLength: 100, Doc: "the product's brand"},
	fVariant:     {Name: "variant", Type: String, MaxLength: 100, Doc: "the product's variant (size, colour)"},
	fQuantity:    {Name: "quantity", Type: Integer, Min: bound(-maxQuantity), Max: bound(maxQuantity), Doc: "units on the line (1 when empty; not 0); negative: units returned"},
	fPrice:       {Name: "price", Type: Number, Min: bound(0), Max: bound(maxAmount), Doc: "price of one unit"},
	fRevenue:     {Name: "revenue", Type: Number, Min: bound(-maxAmount), Max: bound(maxAmount), Doc: "the line's revenue (price × quantity when empty); a return's counts negative whatever its sign"},
	fCurrency:    {Name: "currency", Type: Currency, Doc: "ISO 4217 code of the amounts (the import's currency when empty)"},
	fChannel:     {Name: "channel", Type: Label, MaxLength: 64, Doc: "where it happened or which channel it concerns, e.g. web, store, phone, mail, app, marketplace (orders); email, sms (consents); paid search (spend)"},
	fStore:       {Name: "store", Type: String, MaxLength: 128, Doc: "the store (shop, branch, till) of an offline order"},
	fCoupon:      {Name: "coupon", Type: String, MaxLength: 100, Doc: "coupon or voucher code used"},

	fContactType:  {Name: "type", Type: Enum, Values: contactTypeNames(), Doc: "what the contact was; names the event (see ContactTypes)"},
	fContactID:    {Name: "contact_id", Type: ID, MaxLength: 128, Doc: "the contact's id in the system that made it (a message id, a call id)"},
	fDirection:    {Name: "direction", Type: Enum, Values: []string{"outbound", "inbound"}, Doc: "outbound (the company reached out; the default) or inbound (the customer did)"},
	fCampaignID:   {Name: "campaign_id", Type: ID, MaxLength: 128, Doc: "the campaign's id"},
	fCampaignName: {Name: "campaign_name", Type: String, MaxLength: 200, Doc: "the campaign's name"},
	fOutcome:      {Name: "outcome", Type: Label, MaxLength: 100, Doc: "how it ended, e.g. answered, no answer, sale, complaint"},
	fDuration:     {Name: "duration", Type: Integer, Min: bound(0), Max: bound(maxDuration), Doc: "seconds (a call's length)"},
	fLinkURL:      {Name: "link_url", Type: String, MaxLength: 2048, Doc: "the link clicked"},

	fCaseID:   {Name: "case_id", Type: ID, MaxLength: 128, Doc: "the case's id in the service desk"},
	fOpenedAt: {Name: "opened_at", Type: Time, Doc: "when the case was opened"},
	fClosedAt: {Name: "closed_at", Type: Time, Doc: "when the case was closed (empty while open)"},
	fStatus:   {Name: "status", Type: Enum, Values: []string{"open", "pending", "solved", "closed"}, Doc: "the case's status at export (closed when closed_at is set and status is empty)"},
	fTopic:    {Name: "topic", Type: String, MaxLength: 200, Doc: "what the case is about"},
	fPriority: {Name: "priority", Type: Enum, Values: []string{"low", "normal", "high", "urgent"}, Doc: "the case's priority"},

	fPurpose: {Name: "purpose", Type: Enum, Values: []string{"analytics", "marketing"}, Doc: "what the consent is for (the profile's consent purposes)"},
	fGranted: {Name: "granted", Type: Bool, Doc: "true: granted; false: withdrawn or refused"},
	fSource:  {Name: "source", Type: String, MaxLength: 200, Doc: "where the answer was given (a store form, the call centre) or, for spend, the ad platform (utm_source)"},

	fDate:        {Name: "date", Type: Date, Doc: "the day the money was spent"},
	fMedium:      {Name: "medium", Type: Label, MaxLength: 100, Doc: "the medium (utm_medium), e.g. cpc, display"},
	fCost:        {Name: "cost", Type: Number, Min: bound(0), Max: bound(maxAmount), Doc: "money spent"},
	fImpressions: {Name: "impressions", Type: Integer, Min: bound(0), Max: bound(maxCount), Doc: "impressions bought"},
	fClicks:      {Name: "clicks", Type: Integer, Min: bound(0), Max: bound(maxCount), Doc: "clicks"},
}

// use is a field of a kind: which, and whether rows must have it.
type use struct {
	id       fieldID
	required bool
}

var identityFields = []use{{fUserID, false}, {fAnonymousID, false}, {fEmail, false}, {fPhone, false}}

func with(base []use, more ...use) []use { return append(slices.Clone(base), more...) }

var orderFields = with(identityFields,
	use{fOrderID, true}, use{fTimestamp, true},
	use{fProductID, false}, use{fSKU, false}, use{fProductName, false}, use{fCategory, false}, use{fBrand, false}, use{fVariant, false},
	use{fQuantity, false}, use{fPrice, false}, use{fRevenue, false}, use{fCurrency, false},
	use{fChannel, false}, use{fStore, false}, use{fCoupon, false})

// kindFields are each kind's fields, in the order documented.
var kindFields = map[Kind][]use{
	Customers: with(identityFields, use{fTimestamp, false},
		use{fFirstName, false}, use{fLastName, false}, use{fBirthday, false}, use{fCreatedAt, false},
		use{fTier, false}, use{fCity, false}, use{fCountry, false}),
	Orders:  orderFields,
	Returns: orderFields,
	Contacts: with(identityFields, use{fTimestamp, true}, use{fContactType, true},
		use{fContactID, false}, use{fDirection, false}, use{fCampaignID, false}, use{fCampaignName, false},
		use{fOutcome, false}, use{fDuration, false}, use{fLinkURL, false}),
	Cases: with(identityFields, use{fCaseID, true}, use{fOpenedAt, true}, use{fClosedAt, false},
		use{fStatus, false}, use{fTopic, false}, use{fPriority, false}, use{fChannel, false}),
	Consents: with(identityFields, use{fTimestamp, true}, use{fPurpose, true}, use{fGranted, true},
		use{fChannel, false}, use{fSource, false}),
	Spend: {{fDate, true}, {fChannel, true}, {fCampaignID, false}, {fCampaignName, false}, {fSource, false},
		{fMedium, false}, {fCost, true}, {fCurrency, false}, {fImpressions, false}, {fClicks, false}},
}

// Fields returns the fields of a kind, in the order documented, with whether each is required.
// Rows of every kind but spend also need one identifier of the person (userId, anonymousId,
// email or phone); order lines need a price or a revenue; spend needs a currency when the import
// has none.
func (k Kind) Fields() []Field {
	out := make([]Field, 0, len(kindFields[k]))
	for _, u := range kindFields[k] {
		f := fields[u.id]
		f.Required = u.required
		out = append(out, f)
	}
	return out
}

// CustomPrefix is the prefix of the fields a mapping may add to a kind beside its own: custom
// traits of a customer ("traits.loyalty_card=Card"), custom properties of the events of the other
// kinds ("properties.country=Country"). Spend has none.
func (k Kind) CustomPrefix() string {
	switch k {
	case Customers:
		return "traits."
	case Spend:
		return ""
	}
	return "properties."
}

// fieldOf finds a field of kind k by name.
func (k Kind) fieldOf(name string) (fieldID, bool) {
	for _, u := range kindFields[k] {
		if fields[u.id].Name == name {
			return u.id, true
		}
	}
	return 0, false
}

func (k Kind) required(id fieldID) bool {
	for _, u := range kindFields[k] {
		if u.id == id {
			return u.required
		}
	}
	return false
}

// isPerson tells whether rows of k are about a person (and need one of their identifiers).
func (k Kind) isPerson() bool { return k != Spend }

func short(s string) string {
	const n = 64
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && s[cut]&0xC0 == 0x80 {
		cut--
	}
	return s[:cut] + "…"
}
