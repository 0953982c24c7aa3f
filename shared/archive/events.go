package archive

import (
	"encoding/json"
	"reflect"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/dcrm-project/dcrm/shared/beacon"
)

// Event is one row of the events table: an accepted event as it travelled on the stream, with the
// profile it was recorded on. Columns are named as the Segment Tracking API names the fields, then
// what the endpoint added (sourceId, trusted, pixel, hashed) and its enrichment, one typed column
// per fact (channel, campaign…, device, bot). An absent value is NULL, never "" (a boolean is
// never NULL).
//
// JSON columns (properties, traits, context, integrations, hashed) hold the JSON text, read with
// json_extract_scalar(properties, '$.revenue') in both engines.
//
// As JSON (the archive feed's lines, feed.go) a row has the same names as its columns, an absent
// value left out.
type Event struct {
	Type        string `parquet:"type,dict" json:"type,omitempty"`
	Event       string `parquet:"event,optional,dict" json:"event,omitempty"` // track: the event name
	Name        string `parquet:"name,optional,dict" json:"name,omitempty"`   // page, screen: its name
	Category    string `parquet:"category,optional,dict" json:"category,omitempty"`
	MessageID   string `parquet:"messageId" json:"messageId,omitempty"`
	AnonymousID string `parquet:"anonymousId,optional,dict" json:"anonymousId,omitempty"`
	UserID      string `parquet:"userId,optional,dict" json:"userId,omitempty"`
	// ProfileID is the profile the event was recorded on when it was stitched; a later merge may
	// have folded it into another (resolve it through the merges table).
	ProfileID  string `parquet:"profileId,optional,dict" json:"profileId,omitempty" archive:"person"`
	PreviousID string `parquet:"previousId,optional,dict" json:"previousId,omitempty"` // alias
	GroupID    string `parquet:"groupId,optional,dict" json:"groupId,omitempty"`       // group

	Timestamp         time.Time  `parquet:"timestamp,timestamp(millisecond)" json:"timestamp,omitempty"`
	OriginalTimestamp *time.Time `parquet:"originalTimestamp,optional,timestamp(millisecond)" json:"originalTimestamp,omitempty"`
	SentAt            *time.Time `parquet:"sentAt,optional,timestamp(millisecond)" json:"sentAt,omitempty"`
	ReceivedAt        time.Time  `parquet:"receivedAt,timestamp(millisecond)" json:"receivedAt,omitempty"`

	Properties   string `parquet:"properties,optional" json:"properties,omitempty" archive:"json"`
	Traits       string `parquet:"traits,optional" json:"traits,omitempty" archive:"json"`
	Context      string `parquet:"context,optional" json:"context,omitempty" archive:"json"`
	Integrations string `parquet:"integrations,optional,dict" json:"integrations,omitempty" archive:"json"`

	SourceID string `parquet:"sourceId,dict" json:"sourceId,omitempty"`
	Trusted  bool   `parquet:"trusted" json:"trusted,omitempty"`
	Pixel    bool   `parquet:"pixel" json:"pixel,omitempty"`
	// RawPII says the source keeps personal data as sent (beacon.Event.RawPII): only this row's
	// JSON columns may hold it in clear.
	RawPII bool `parquet:"rawPII" json:"rawPII,omitempty"`
	// Hashed is beacon.Event.Hashed as a JSON object: {"email_sha256": "…", …}.
	Hashed string `parquet:"hashed,optional" json:"hashed,omitempty" archive:"json"`

	IP              string `parquet:"ip,optional,dict" json:"ip,omitempty"` // truncated: IPv4 /24, IPv6 /48
	Channel         string `parquet:"channel,optional,dict" json:"channel,omitempty"`
	Referrer        string `parquet:"referrer,optional,dict" json:"referrer,omitempty"` // the referring host
	CampaignSource  string `parquet:"campaignSource,optional,dict" json:"campaignSource,omitempty"`
	CampaignMedium  string `parquet:"campaignMedium,optional,dict" json:"campaignMedium,omitempty"`
	CampaignName    string `parquet:"campaignName,optional,dict" json:"campaignName,omitempty"`
	CampaignTerm    string `parquet:"campaignTerm,optional,dict" json:"campaignTerm,omitempty"`
	CampaignContent string `parquet:"campaignContent,optional,dict" json:"campaignContent,omitempty"`
	CampaignID      string `parquet:"campaignId,optional,dict" json:"campaignId,omitempty"`
	ClickID         string `parquet:"clickId,optional" json:"clickId,omitempty"`
	ClickIDType     string `parquet:"clickIdType,optional,dict" json:"clickIdType,omitempty"`
	DeviceClass     string `parquet:"deviceClass,optional,dict" json:"deviceClass,omitempty"`
	Browser         string `parquet:"browser,optional,dict" json:"browser,omitempty"`
	BrowserVersion  string `parquet:"browserVersion,optional,dict" json:"browserVersion,omitempty"`
	OS              string `parquet:"os,optional,dict" json:"os,omitempty"`
	OSVersion       string `parquet:"osVersion,optional,dict" json:"osVersion,omitempty"`
	IsBot           bool   `parquet:"isBot" json:"isBot,omitempty"`
	BotReason       string `parquet:"botReason,optional,dict" json:"botReason,omitempty"`
	LinkerID        string `parquet:"linkerId,optional,dict" json:"linkerId,omitempty"`
}

// FromEvent is the row of an accepted event recorded on profile profileID ("" when it was on
// none). Personal data is what the stream carries: the event is redacted again first
// (beacon.Event.Redact: nothing for an event collect already redacted, the person's data for one
// an older endpoint put on the stream), so the archive never holds more than stitch keeps; a
// source that keeps raw personal data keeps it here too (RawPII).
func FromEvent(e beacon.Event, profileID string) Event {
	e.Redact() // e is a copy; Redact builds new JSON and never writes into the caller's
	r := Event{
		Type:              e.Type,
		Event:             e.Event,
		Name:              e.Name,
		Category:          category(e),
		MessageID:         e.MessageID,
		AnonymousID:       e.AnonymousID,
		UserID:            e.UserID,
		ProfileID:         profileID,
		PreviousID:        e.PreviousID,
		GroupID:           e.GroupID,
		Timestamp:         e.Timestamp.UTC(),
		OriginalTimestamp: utc(e.OriginalTimestamp),
		SentAt:            utc(e.SentAt),
		ReceivedAt:        e.ReceivedAt.UTC(),
		Properties:        jsonText(e.Properties),
		Traits:            jsonText(e.Traits),
		Context:           jsonText(e.Context),
		Integrations:      jsonText(e.Integrations),
		SourceID:          e.SourceID,
		Trusted:           e.Trusted,
		Pixel:             e.Pixel,
		RawPII:            e.RawPII,
	}
	if len(e.Hashed) > 0 {
		b, _ := json.Marshal(e.Hashed) // a map of strings always encodes
		r.Hashed = string(b)
	}
	if en := e.Enrichment; en != nil {
		r.IP, r.Channel, r.Referrer, r.LinkerID = en.IP, en.Channel, en.Referrer, en.LinkerID
		r.IsBot, r.BotReason = en.Bot.IsBot, en.Bot.Reason
		if c := en.Campaign; c != nil {
			r.CampaignSource, r.CampaignMedium, r.CampaignName = c.Source, c.Medium, c.Name
			r.CampaignTerm, r.CampaignContent, r.CampaignID = c.Term, c.Content, c.ID
			r.ClickID, r.ClickIDType = c.ClickID, c.ClickIDType
		}
		if d := en.Device; d != nil {
			r.DeviceClass, r.Browser, r.BrowserVersion, r.OS, r.OSVersion = d.Class, d.Browser, d.BrowserVersion, d.OS, d.OSVersion
		}
	}
	validUTF8(&r)
	return r
}

// validUTF8 replaces invalid UTF-8 in every string column of the row by U+FFFD. The endpoint keeps
// raw JSON (properties, traits, context) byte for byte, and a string column must be valid UTF-8:
// DuckDB refuses a file that is not, which would fail every query over the day.
func validUTF8(r *Event) {
	v := reflect.ValueOf(r).Elem()
	for i := range v.NumField() {
		if f := v.Field(i); f.Kind() == reflect.String && !utf8.ValidString(f.String()) {
			f.SetString(strings.ToValidUTF8(f.String(), "\uFFFD"))
		}
	}
}

// Date is the partition of the row: the UTC date of its timestamp.
func (r Event) Date() string { return r.Timestamp.UTC().Format(time.DateOnly) }

// category is a page or screen call's category. The endpoint keeps no top-level category (the
// Tracking API's page category), so it is read from properties.category, where analytics.js and
// the mobile SDKs also put it.
func category(e beacon.Event) string {
	if e.Type != beacon.Page && e.Type != beacon.Screen {
		return ""
	}
	var p struct {
		Category json.RawMessage `json:"category"`
	}
	if json.Unmarshal(e.Properties, &p) != nil {
		return ""
	}
	var s string
	if json.Unmarshal(p.Category, &s) != nil {
		return ""
	}
	return s
}

// jsonText is a raw JSON field as text; absent or null is "" (NULL in the table).
func jsonText(raw json.RawMessage) string {
	if s := string(raw); s != "null" {
		return s
	}
	return ""
}

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}
