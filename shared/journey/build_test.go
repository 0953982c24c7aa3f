package journey

import (
	"time"

	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/shared/archive"
	"github.com/dcrm-project/dcrm/shared/attribution"
)

// channels lists a journey's touches as "channel/kind".
func touchesOf(j Journey) []string {
	var out []string
	for _, t := range j.Touches {
		out = append(out, t.Channel+"/"+t.Kind)
	}
	return out
}

func TestSessionsMakeOneTouchEach(t *testing.T) {
	people := build(t, orderOnly(), nil, Options{}, rows(
		row("p", 0).ch("organic search"),
		row("p", 5*minute).ch("direct"),                                     // same session: internal navigation
		row("p", 10*minute).ch("paid search").camp("google", "cpc", "sale"), // new tags: new session
		row("p", 20*minute).ch("paid search").camp("google", "cpc", "sale"), // same tags: same session
		row("p", 2*hour).ch("direct"),                                       // 30 minutes idle: new session
		row("p", 3*hour).track("Add To Wishlist", ""),                       // a session with no channel: no touch
		row("p", 5*hour).ch("email").camp("newsletter", "email", "nov"),
		row("p", 5*hour+minute).track("Order Completed", `{"revenue": "40.5"}`),
	))
	require.Len(t, people, 1)
	require.Len(t, people[0].Journeys, 1)
	j := people[0].Journeys[0]
	require.True(t, j.Converted)
	require.Equal(t, 40.5, j.Value)
	require.Equal(t, []string{"organic search/session", "paid search/session", "direct/session", "email/session"}, touchesOf(j))
	require.Equal(t, "sale", j.Touches[1].Campaign)
	require.Equal(t, at(5*hour+minute), j.At)
}

func TestImpressionsAndContactsAreTouches(t *testing.T) {
	people := build(t, orderOnly(), nil, Options{}, rows(
		row("p", 0).track("Email Sent", `{"campaign_name": "nov"}`),      // sent: not a touch (opens say it arrived)
		row("p", hour).track("Email Opened", `{"campaign_name": "nov"}`), // email / open, campaign from properties
		row("p", 2*hour).track("Email Link Clicked", ""),
		row("p", 3*hour).pixel(),                     // an ad impression through the pixel
		row("p", 4*hour).track("Call Completed", ""), // an imported call
		row("p", 5*hour).track("Mail Sent", ""),      // a letter: sent is all there is
		row("p", 6*hour).track("Email Bounced", ""),  // not a touch
		row("p", 7*hour).track("Order Completed", `{"total": 9}`),
	))
	j := people[0].Journeys[0]
	require.Equal(t, []string{"email/open", "email/click", "display/impression", "phone/conversation", "mail/sent"}, touchesOf(j))
	require.Equal(t, "nov", j.Touches[0].Campaign)
	require.Equal(t, 9.0, j.Value, "total when there is no revenue")
}

func TestLookbackPreviousConversionsAndNulls(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Goals, cfg.Funnel = cfg.Goals[:2], nil // order and sign-up
	people := build(t, cfg, nil, Options{}, rows(
		row("p", 0).ch("display"), // 31 days before the first order: out of its lookback
		row("p", 2*day).ch("organic search"),
		row("p", 31*day).track("Order Completed", `{"revenue": 10}`),
		row("p", 31*day+hour).ch("email"),
		row("p", 32*day).track("Signed Up", ""), // another goal: its path is not cut by the order
		row("p", 33*day).ch("referral"),
		row("p", 34*day).track("Order Completed", `{"revenue": 20}`), // after the first: only later touches
		row("p", 35*day).ch("paid social"),                           // after the last order: a null
		row("q", 35*day).ch("direct"),                                // never converted: a null
	))
	require.Len(t, people, 2)
	var got []string
	for _, j := range people[0].Journeys {
		got = append(got, j.Goal+" "+map[bool]string{true: "converted", false: "null"}[j.Converted]+" "+joinTouches(j))
	}
	require.Equal(t, []string{
		"order converted organic search",
		"order converted email > referral",
		"order null paid social",
		"sign-up converted organic search > email",
		"sign-up null referral > paid social",
	}, got)
	require.Equal(t, at(35*day), people[0].Journeys[2].At, "a null ends at the window's end: the latest event")
	require.Equal(t, []string{"direct"}, []string{joinTouches(people[1].Journeys[0])})
}

func joinTouches(j Journey) string {
	p, ok := j.Path(nil)
	if !ok {
		return ""
	}
	s := ""
	for i, c := range p.Channels {
		if i > 0 {
			s += " > "
		}
		s += c
	}
	return s
}

func TestSinceUntilAndBots(t *testing.T) {
	in := rows(
		row("p", 0).ch("display"),
		row("p", day).track("Order Completed", `{"revenue": 1}`), // before Since: not counted, but cuts the next path
		row("p", 2*day).ch("email").bot(),                        // automated: left out
		row("p", 3*day).ch("referral"),
		row("p", 4*day).track("Order Completed", `{"revenue": 2}`),
		row("p", 9*day).ch("direct"), // after Until
	)
	b, err := NewBuilder(orderOnly(), nil, Options{Since: at(2 * day), Until: at(5 * day)})
	require.NoError(t, err)
	for _, r := range in {
		require.NoError(t, b.Add(r))
	}
	people, err := b.Collect()
	require.NoError(t, err)
	require.Len(t, people[0].Journeys, 1)
	require.Equal(t, "referral", joinTouches(people[0].Journeys[0]))
	require.Equal(t, 2.0, people[0].Journeys[0].Value)
	st := b.Stats()
	require.Equal(t, 1, st.Bots)
	require.Equal(t, 1, st.Late)
}

// A rerun after a merge puts the merged profile's events on the live person; an event archived
// late (added in any order) lands where its time puts it; a duplicate row counts once.
func TestMergesLateEventsAndDuplicates(t *testing.T) {
	in := rows(
		row("anon", 0).ch("paid social"), // recorded on a profile later merged into "p"
		row("p", day).ch("email"),
		row("p", 2*day).track("Order Completed", `{"revenue": 5}`).id("order-1"),
		row("p", 2*day).track("Order Completed", `{"revenue": 5}`).id("order-1"), // archived twice
		row("p", 12*hour).ch("referral"),                                         // archived late
	)
	before := build(t, orderOnly(), nil, Options{}, in)
	require.Len(t, before, 2, "without the merge: two people")
	merges := []archive.Merge{{MergedID: "anon", ProfileID: "p"}}
	after := build(t, orderOnly(), merges, Options{}, in)
	require.Len(t, after, 1)
	require.Equal(t, "p", after[0].ID)
	require.Len(t, after[0].Journeys, 1, "the duplicate order counts once")
	require.Equal(t, "paid social > referral > email", joinTouches(after[0].Journeys[0]))

	// From the archive's files, as a rerun reads them.
	fsys := writeArchive(t, in, merges, "2026-11-05")
	s := FSStore{FS: fsys}
	m, err := ReadMerges(t.Context(), s)
	require.NoError(t, err)
	require.Equal(t, after, build(t, orderOnly(), m, Options{}, readAll(t, s)))
}

// Spilling to temporary files gives exactly what memory gives.
func TestSpilledPartsGiveTheSameJourneys(t *testing.T) {
	in := syntheticRows(300, 11)
	cfg := DefaultConfig()
	mem := build(t, cfg, nil, Options{}, in)
	spilled := build(t, cfg, nil, Options{MemoryHits: 97, TempDir: t.TempDir()}, in)
	require.Equal(t, mem, spilled)
	require.NotEmpty(t, mem)
	// and the paths are valid input of every model
	paths, _ := Paths(mem, "order", nil)
	require.NotEmpty(t, paths)
	for _, m := range attribution.Models() {
		_, err := m.Run(paths, attribution.Options{})
		require.NoError(t, err, m.Name)
	}
	_, err := attribution.Markov(Aggregate(paths))
	require.NoError(t, err)
}

func TestFunnelStepsInOrderWithinTheWindow(t *testing.T) {
	cfg := orderOnly()
	cfg.Funnel = DefaultConfig().Funnel
	step := func(p string, d time.Duration, name string) *ev { return row(p, d).track(name, "") }
	people := build(t, cfg, nil, Options{}, rows(
		step("a", 0, "Product Viewed"), step("a", hour, "Product Added"), step("a", 2*hour, "Checkout Started"),
		step("a", 3*hour, "Order Completed"),
		step("b", 0, "Product Added"), step("b", hour, "Product Viewed"), step("b", 2*hour, "Checkout Started"), // out of order: 1 step
		step("c", 0, "Product Viewed"), step("c", 8*day, "Product Added"), // beyond 7 days: 1 step
		step("d", 0, "Product Viewed"), step("d", 8*day, "Product Viewed"), step("d", 9*day, "Product Added"), // a later start: 2
	))
	got := map[string]int{}
	for _, p := range people {
		got[p.ID] = p.FunnelSteps
	}
	require.Equal(t, map[string]int{"a": 4, "b": 1, "c": 1, "d": 2}, got)
}
