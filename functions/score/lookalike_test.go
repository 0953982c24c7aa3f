package main

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/infra/topology"
	"github.com/dcrm-project/dcrm/shared/audience"
	"github.com/dcrm-project/dcrm/shared/audiencestore"
	"github.com/dcrm-project/dcrm/shared/identity"
	"github.com/dcrm-project/dcrm/shared/localaws/localawstest"
	"github.com/dcrm-project/dcrm/shared/membership"
	"github.com/dcrm-project/dcrm/shared/messagequeue"
	"github.com/dcrm-project/dcrm/shared/recording"
	"github.com/dcrm-project/dcrm/shared/schedule"
)

// The audiences kept in the Audiences table name a look-alike of the frequent buyers: the daily
// fit reads the definitions, trains the seed's model on the sample and stores it with the other
// models; the hourly score gives every profile its resemblance to the seed, which the rule naming
// it reads from the stored profile.
func TestTheFitTrainsTheSeedsTheAudiencesName(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := newStack(t)
	e := localawstest.Reachable(t)
	audiences := audiencestore.New(e.Dynamo(), localawstest.NewTopologyTable(t, topology.AudienceTable))
	seed, err := audience.Parse([]byte(`{"id": "frequent", "name": "Frequent buyers", "rule": {"field": "orders", "op": ">=", "value": 3}}`))
	require.NoError(t, err)
	like, err := audience.Parse([]byte(`{"id": "like-frequent", "name": "Like the frequent buyers", "rule": {"all": [
		{"field": "lookalike.frequent", "op": ">=", "value": 0.8}, {"not": {"field": "audiences", "op": "contains", "value": "frequent"}}]}}`))
	require.NoError(t, err)
	for _, d := range []audience.Definition{seed, like} {
		_, err := audiences.Put(ctx, d, "k-test")
		require.NoError(t, err)
	}
	st.h.audiences = audiences
	// Membership is kept too: the profiles were recorded before any engine evaluated them, so the
	// score run back-fills it, look-alike audience included, announcing each entry.
	changes := localawstest.NewQueue(t)
	source := membership.NewSource(audiences)
	st.h.members = keeper{recording.New(st.store, recording.WithAudiences(source,
		membership.Queue{Sender: messagequeue.New(e.SQSClient(), changes)})), source}
	st.h.sizes = audiences
	s := newShop(t, 300, 40)
	st.record(t, s.acts)

	fitted, err := st.h.handle(ctx, schedule.Payload(topology.FitSchedule, fitAt))
	require.NoError(t, err)
	require.Empty(t, fitted.Fit.Notes, "every model fitted, the look-alike too")
	scored, err := st.h.handle(ctx, schedule.Payload(topology.ScoreSchedule, scoreAt))
	require.NoError(t, err)

	set, err := audience.NewSet([]audience.Definition{seed, like})
	require.NoError(t, err)
	var inSeed, outside []float64
	entered := 0
	members := map[string]int64{}
	for _, user := range s.buyers {
		p := st.profile(t, identity.UserID(user))
		score, ok := p.Score.Lookalikes["frequent"]
		require.True(t, ok, user)
		m, err := set.Evaluate(audience.FromProfile(p, nil, nil), scoreAt)
		require.NoError(t, err)
		member := p.OrderCount >= 3
		require.Equal(t, member, slices.Contains(m.Audiences, "frequent"), user)
		require.Equal(t, !member && score >= 0.8, slices.Contains(m.Audiences, "like-frequent"), "%s: the rule reads the stored score %v", user, score)
		require.Equal(t, m.Audiences, p.AudienceIDs(), "%s: the run keeps the membership on the profile", user)
		entered += len(m.Audiences)
		for _, id := range m.Audiences {
			members[id]++
		}
		if member {
			inSeed = append(inSeed, score)
		} else {
			outside = append(outside, score)
		}
	}
	require.NotEmpty(t, inSeed)
	require.NotEmpty(t, outside)
	require.Greater(t, mean(inSeed), mean(outside)+0.3, "the seed's members resemble it most")
	require.Positive(t, entered)
	require.Equal(t, int64(entered), scored.AudiencesEntered, "each entry recorded once, by the run")
	require.Zero(t, scored.AudiencesExited)
	// The run counted the members as it went: the sizes at its time are whole.
	for _, id := range []string{"frequent", "like-frequent"} {
		sizes, err := audiences.Sizes(ctx, id, 1, scoreAt)
		require.NoError(t, err)
		require.Equal(t, []audiencestore.Size{{At: scoreAt, Members: members[id]}}, sizes, id)
	}

	// A second run finds nothing stale: no profile is read again or written for its audiences.
	again, err := st.h.handle(ctx, schedule.Payload(topology.ScoreSchedule, scoreAt.Add(time.Hour)))
	require.NoError(t, err)
	require.Zero(t, again.AudiencesEntered+again.AudiencesExited)
}

func mean(xs []float64) float64 {
	sum := 0.0
	for _, x := range xs {
		sum += x
	}
	return sum / float64(len(xs))
}

// An audience of the N people most like the frequent buyers (lookalikeRank.frequent <= N): the fit
// keeps how the seed model's scores spread over its sample's candidates, every score ranks each
// candidate among the profiles the run counts, and the audience then holds about N candidates.
//
// Here the sample is the whole population and DynamoDB Local counts the profiles exactly, so the
// estimate has no sampling error: what remains is that the fit scored the profiles as it read them
// (with the scores of the run before) and the run scores them afresh, and ties (equal histories
// score equal; all of them rank together). Runs: fit, score (everyone gets a score), a day later
// fit again (reading the scored profiles, as every daily fit but the first does) and score.
func TestTheTopNOfALookalike(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := newStack(t)
	e := localawstest.Reachable(t)
	audiences := audiencestore.New(e.Dynamo(), localawstest.NewTopologyTable(t, topology.AudienceTable))
	const n = 60
	seed, err := audience.Parse([]byte(`{"id": "frequent", "name": "Frequent buyers", "rule": {"field": "orders", "op": ">=", "value": 3}}`))
	require.NoError(t, err)
	top, err := audience.Parse([]byte(`{"id": "top-like-frequent", "name": "The 60 most like the frequent buyers",
		"rule": {"field": "lookalikeRank.frequent", "op": "<=", "value": 60}}`))
	require.NoError(t, err)
	for _, d := range []audience.Definition{seed, top} {
		_, err := audiences.Put(ctx, d, "k-test")
		require.NoError(t, err)
	}
	st.h.audiences = audiences
	s := newShop(t, 300, 40)
	st.record(t, s.acts)

	day2 := scoreAt.Add(25 * time.Hour) // past the daily refresh: every drifted score is written
	for _, run := range []struct {
		schedule string
		at       time.Time
	}{{topology.FitSchedule, fitAt}, {topology.ScoreSchedule, scoreAt}, {topology.FitSchedule, day2}, {topology.ScoreSchedule, day2}} {
		sum, err := st.h.handle(ctx, schedule.Payload(run.schedule, run.at))
		require.NoError(t, err)
		if sum.Fit != nil {
			require.Empty(t, sum.Fit.Notes)
		}
	}
	m, err := st.h.modelsNow(ctx)
	require.NoError(t, err)
	population, err := st.store.CountProfiles(ctx)
	require.NoError(t, err)
	require.Equal(t, int64(340), population, "300 buyers and 40 visitors")
	require.Equal(t, population, m.Population, "the fit kept its count")
	r := m.LookalikeRanks["frequent"]
	require.NotNil(t, r)

	type scored struct {
		id    string
		score float64
		rank  int
	}
	var candidates []scored
	ids := []identity.ID{}
	for _, u := range s.buyers {
		ids = append(ids, identity.UserID(u))
	}
	for _, g := range s.guests {
		ids = append(ids, identity.AnonymousID(g))
	}
	in := 0
	for _, id := range ids {
		p := st.profile(t, id)
		require.NotNil(t, p.Score, id.Value)
		rank, ranked := p.Score.LookalikeRanks["frequent"]
		member, err := seed.Match(audience.FromProfile(p, nil, nil), day2)
		require.NoError(t, err)
		require.Equal(t, !member, ranked, "%s: a member of the seed has no rank, every other profile has one", id.Value)
		if member {
			continue
		}
		candidates = append(candidates, scored{id.Value, p.Score.Lookalikes["frequent"], rank})
		ok, err := top.Match(audience.FromProfile(p, nil, nil), day2)
		require.NoError(t, err)
		require.Equal(t, rank <= n, ok, id.Value)
		if ok {
			in++
		}
	}
	require.Equal(t, r.Candidates.N, len(candidates), "the sample's candidates are the population's")
	// The true ranks, by the stored scores.
	worst, truly := 0, 0
	for _, c := range candidates {
		truth := 1
		for _, o := range candidates {
			if o.score > c.score {
				truth++
			}
		}
		worst = max(worst, absInt(c.rank-truth))
		if truth <= n {
			truly++
		}
	}
	t.Logf("%d profiles, %d members of the seed, %d candidates: %d with rank ≤ %d (%d by the stored scores' true ranks); worst rank error %d",
		population, r.Members, len(candidates), in, n, truly, worst)
	// Tolerance: 10 % of N. With no sampling error, the ranks are off only by how far the run's
	// scores moved from the fit's (up to 5 ranks here) and by ties at the N-th (here 64 candidates
	// have a true rank ≤ 60 as well: equal CDNOW histories score alike).
	require.InDelta(t, n, in, 0.1*n, "about N")
	require.LessOrEqual(t, worst, len(candidates)/20, "every rank within 5 %% of the candidates")
}

func absInt(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
