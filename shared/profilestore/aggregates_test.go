package profilestore

import (
	"context"
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/guregu/dynamo/v2"
	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/shared/beacon"
	"github.com/dcrm-project/dcrm/shared/history"
	"github.com/dcrm-project/dcrm/shared/identity"
	"github.com/dcrm-project/dcrm/shared/profile"
	"github.com/dcrm-project/dcrm/shared/recording/recordingtest"
)

func TestAggregatesAreStoredAsAttributes(t *testing.T) {
	f := newFixture(t)
	f.Record(t, recordingtest.Journey()...)
	p := f.Lookup(t, identity.UserID("U"))
	var it map[string]any
	require.NoError(t, f.store.ProfileTable.table.Get("profileId", p.ID).One(context.Background(), &it))
	require.EqualValues(t, 3, it["visits"])
	require.EqualValues(t, 95.5, it["revenue"])
	require.Equal(t, "/", it["session"].(map[string]any)["landingPage"])
	require.Contains(t, it, "basket")
	require.Contains(t, it, "forms")
	hits, ok := it["hits"].([]byte)
	require.True(t, ok, "hits are one binary attribute, got %T", it["hits"])
	require.Less(t, len(hits), 16*16, "a few bytes per hit")
}

func TestHitListRoundTrip(t *testing.T) {
	var in hitList
	for i := range profile.MaxHits {
		at := recordingtest.At(i).Add(time.Duration(i) * time.Millisecond)
		if i%4 == 3 {
			at = at.Add(time.Duration(i) * time.Nanosecond) // a time finer than milliseconds
		}
		hit := profile.Hit{At: at, PageView: i%2 == 0, Engaged: i % 7, Channel: "direct", Page: fmt.Sprintf("/p/%d", i%5)}
		if i%3 == 0 {
			hit.Campaign = profile.Campaign{Source: "s", Medium: fmt.Sprint(i % 3)}
		}
		if i%10 == 0 {
			hit.Campaign.Name, hit.Campaign.ClickID, hit.Channel, hit.Page = "spring", "gclid-1", "", ""
		}
		in = append(in, hit)
	}
	av, err := in.MarshalDynamo()
	require.NoError(t, err)
	require.Less(t, len(av.(*types.AttributeValueMemberB).Value), 1700, "about eight bytes a hit (format 1: thirteen)")
	var out hitList
	require.NoError(t, out.UnmarshalDynamo(av))
	require.Equal(t, in, out)

	raw := av.(*types.AttributeValueMemberB).Value
	for _, bad := range []types.AttributeValue{
		&types.AttributeValueMemberS{Value: "x"},
		&types.AttributeValueMemberB{Value: nil},
		&types.AttributeValueMemberB{Value: []byte{9}},
		&types.AttributeValueMemberB{Value: raw[:len(raw)/2]},
		&types.AttributeValueMemberB{Value: []byte{hitsFormat, 0, 1, 0, hitPage, 0, 9}},         // string index out of range
		&types.AttributeValueMemberB{Value: []byte{hitsFormat, 0, 1, 0, 0x80, 0}},               // a flag no format has
		&types.AttributeValueMemberB{Value: []byte{hitsFormat, 0, 1, 0, hitMillis, 0xe8, 0x07}}, // 1,000 ms
		&types.AttributeValueMemberB{Value: []byte{hitsFormat, 0, 1, 0, hitCampaign, 0, 0x10}},  // a fifth campaign tag
		&types.AttributeValueMemberB{Value: []byte{hitsFormatV1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9}},
	} {
		var h hitList
		require.ErrorIs(t, h.UnmarshalDynamo(bad), errBadHits, "%v", bad)
	}
}

// Windows written in format 1 (every field of every hit) are read as they were written.
func TestHitListReadsFormat1(t *testing.T) {
	in := hitList{
		{At: time.Unix(1764547200, 123456789).UTC(), PageView: true, Engaged: 0, Channel: "direct", Page: "/"},
		{At: time.Unix(1764547260, 5e8).UTC(), Engaged: 30, Campaign: profile.Campaign{Source: "news", Medium: "email", Name: "spring", ClickID: "c1"}, Channel: "email"},
	}
	table := []string{"direct", "/", "news", "email", "spring", "c1"} // indexes 1–6
	v1 := []byte{hitsFormatV1, byte(len(table))}
	for _, s := range table {
		v1 = append(append(v1, byte(len(s))), s...)
	}
	v1 = append(v1, 2)
	v1 = binary.AppendVarint(v1, 1764547200)
	v1 = binary.AppendUvarint(v1, 123456789)
	v1 = append(v1, 1, 0, 0, 0, 0, 0, 1, 2)
	v1 = binary.AppendVarint(v1, 60)
	v1 = binary.AppendUvarint(v1, 5e8)
	v1 = append(v1, 0, 30, 3, 4, 5, 6, 4, 0)
	var out hitList
	require.NoError(t, out.UnmarshalDynamo(&types.AttributeValueMemberB{Value: v1}))
	require.Equal(t, in, out)

	av, err := out.MarshalDynamo()
	require.NoError(t, err)
	require.Equal(t, byte(hitsFormat), av.(*types.AttributeValueMemberB).Value[0], "written again in the current format")
	require.Less(t, len(av.(*types.AttributeValueMemberB).Value), len(v1))
}

// FuzzHitList: any bytes are read without a panic, and what is read is written and read back
// the same.
func FuzzHitList(f *testing.F) {
	av, err := hitList{{At: time.Unix(1764547200, 0).UTC(), PageView: true, Channel: "direct", Page: "/",
		Campaign: profile.Campaign{Medium: "email"}}}.MarshalDynamo()
	require.NoError(f, err)
	f.Add(av.(*types.AttributeValueMemberB).Value)
	f.Add([]byte{hitsFormatV1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		var h hitList
		if h.UnmarshalDynamo(&types.AttributeValueMemberB{Value: data}) != nil || len(h) == 0 {
			return
		}
		again, err := h.MarshalDynamo()
		require.NoError(t, err)
		var back hitList
		require.NoError(t, back.UnmarshalDynamo(again))
		require.Equal(t, h, back)
	})
}

func TestSettledWindowIsStored(t *testing.T) {
	f := newFixture(t)
	var acts []profile.Activity
	for i := range profile.MaxHits + 10 {
		acts = append(acts, profile.Activity{MessageID: fmt.Sprintf("w%03d", i), Type: beacon.Page, AnonymousID: "A", At: recordingtest.At(61 * i),
			Page: "/", Campaign: profile.Campaign{Source: "news"}, Channel: beacon.ChannelReferral})
	}
	acts = append(acts, profile.Activity{MessageID: "late", Type: beacon.Track, Event: "Page Ping", AnonymousID: "A", At: recordingtest.At(1), Engaged: 10})
	f.Record(t, acts...)
	got := f.Lookup(t, identity.AnonymousID("A"))
	want := profile.Profile{ID: got.ID}
	for _, a := range acts {
		want = profile.Apply(want, a, nil)
	}
	require.Equal(t, profile.MaxHits+10, got.Visits)
	require.Equal(t, 10, got.EngagedSeconds, "the late ping joins the settled total")
	require.Equal(t, profile.Settled{Until: recordingtest.At(61 * 9), Campaign: profile.Campaign{Source: "news"}, Channel: beacon.ChannelReferral,
		Visits: 10, EngagedSeconds: 10}, got.Settled)
	require.Equal(t, recordingtest.Aggregates(want), recordingtest.Aggregates(got))
}

func TestProductCategoriesRoundTrip(t *testing.T) {
	var p profile.Profile
	for i, a := range []profile.Activity{
		{Event: "Product Viewed", Products: []profile.Line{{ProductID: "p1", Quantity: 1, Category: "Shoes"}}},
		{Event: "Product Added", Products: []profile.Line{{ProductID: "p2", Quantity: 2, Price: 5, Category: "Bags"}}},
		{Event: "Order Completed", OrderID: "o1", Products: []profile.Line{{ProductID: "p2", Quantity: 2, Price: 5, Category: "Bags"}}},
	} {
		a.MessageID, a.Type, a.AnonymousID, a.At = fmt.Sprint(i), beacon.Track, "A", recordingtest.At(i)
		p = profile.Apply(p, a, nil)
	}
	require.NotEmpty(t, p.Products.Categories.Bought)
	item, err := dynamo.MarshalItem(aggregatesOf(p))
	require.NoError(t, err)
	var a aggregateFields
	require.NoError(t, dynamo.UnmarshalItem(item, &a))
	var got profile.Profile
	a.fill(&got)
	require.Equal(t, p.Products, got.Products)
	require.Equal(t, p.Orders, got.Orders)

	// An item written before categories and last times reads as products without them.
	delete(item["products"].(*types.AttributeValueMemberM).Value, "categories")
	delete(item["products"].(*types.AttributeValueMemberM).Value, "last")
	a = aggregateFields{}
	require.NoError(t, dynamo.UnmarshalItem(item, &a))
	got = profile.Profile{}
	a.fill(&got)
	require.Equal(t, profile.Products{Viewed: p.Products.Viewed, Carted: p.Products.Carted, Bought: p.Products.Bought}, got.Products)
}

// Impressions are stored with the profile, and a profile written before they were reads as
// without any.
func TestImpressionsRoundTrip(t *testing.T) {
	var p profile.Profile
	for i, name := range []string{"Email Opened", "Email Link Clicked", "Ad Impression"} {
		p = profile.Apply(p, profile.Activity{MessageID: fmt.Sprint(i), Type: beacon.Track, Event: name, AnonymousID: "A",
			At: recordingtest.At(i).Add(time.Millisecond), Impression: profile.ImpressionNamed(name), Channel: beacon.ChannelEmail,
			Campaign: profile.Campaign{Name: "spring"}}, nil)
	}
	require.Equal(t, 3, p.Impressions.Count)
	item, err := dynamo.MarshalItem(aggregatesOf(p))
	require.NoError(t, err)
	var a aggregateFields
	require.NoError(t, dynamo.UnmarshalItem(item, &a))
	var got profile.Profile
	a.fill(&got)
	require.Equal(t, p.Impressions, got.Impressions)

	delete(item, "impressions")
	a = aggregateFields{}
	require.NoError(t, dynamo.UnmarshalItem(item, &a))
	got = profile.Profile{}
	a.fill(&got)
	require.True(t, got.Impressions.IsZero())
}

// On DynamoDB: an impression's touchpoint carries its kind and the history's impression filter
// selects it; a touchpoint written before kinds were kept is an impression when its name says so,
// and a profile derived again from it sees one.
func TestImpressionTouchpointItems(t *testing.T) {
	f := newFixture(t)
	open := recordingtest.Track("m2", "A", "", 2)
	open.Event, open.Impression, open.Channel = "Email Opened", profile.ImpressionOpen, beacon.ChannelEmail
	f.Record(t, recordingtest.Page("m1", "A", 0), open)
	p := f.Lookup(t, identity.AnonymousID("A"))
	require.Equal(t, 1, p.Visits)
	require.Equal(t, 1, p.Impressions.Count)

	got := f.History(t, p.ID, history.Query{Type: history.Impressions, Limit: 10})
	require.Len(t, got, 1)
	require.Equal(t, "m2", got[0].MessageID)
	require.Equal(t, profile.ImpressionOpen, got[0].Impression)
	require.Equal(t, profile.ImpressionOpen, got[0].Activity.Impression)

	// An item as written before: no impression attribute.
	old := touchpointRow(history.Retention{}.Touchpoint(p.ID, profile.Activity{MessageID: "m0", Type: beacon.Track, Event: "email_opened",
		AnonymousID: "A", At: recordingtest.At(-5)}, nil, recordingtest.At(0)))
	require.Empty(t, old.Impression, "the row of an activity recorded without a kind")
	require.NoError(t, f.store.TouchpointTable.table.Put(old).Run(context.Background()))
	all := f.History(t, p.ID, history.Query{Limit: 10})
	require.Len(t, all, 3)
	require.Equal(t, "m0", all[2].MessageID)
	require.Equal(t, profile.ImpressionOpen, all[2].Impression)
	require.Equal(t, profile.ImpressionOpen, all[2].Activity.Impression)
}
