package membership

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/events/schemas"
	"github.com/dcrm-project/dcrm/shared/audience"
	"github.com/dcrm-project/dcrm/shared/computed"
	"github.com/dcrm-project/dcrm/shared/identity"
	"github.com/dcrm-project/dcrm/shared/message"
	"github.com/dcrm-project/dcrm/shared/profile"
	"github.com/dcrm-project/dcrm/shared/recording"
)

// stored is a store of definitions that counts its reads and fails when told.
type stored struct {
	version        int
	defs           []audience.Definition
	traits         []computed.Definition
	err            error
	versions, full int
}

func (s *stored) Version(context.Context) (int, error) { s.versions++; return s.version, s.err }
func (s *stored) Current(context.Context) (int, []audience.Definition, []computed.Definition, error) {
	s.full++
	return s.version, s.defs, s.traits, s.err
}

func definition(t *testing.T, id string) audience.Definition {
	d, err := audience.Parse([]byte(`{"id": "` + id + `", "name": "n", "rule": {"field": "orders", "op": ">=", "value": 1}}`))
	require.NoError(t, err)
	return d
}

func TestSourceReadsTheDefinitionsOnlyWhenTheVersionMoves(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	st := &stored{version: 1, defs: []audience.Definition{definition(t, "buyers")}}
	src := NewSource(st).WithClock(func() time.Time { return now })

	got, err := src.Audiences(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, got.Version)
	require.Len(t, got.Set.Definitions(), 1)

	// Within CheckEvery nothing is read; after it, the version alone.
	now = now.Add(CheckEvery - time.Second)
	_, _ = src.Audiences(ctx)
	require.Equal(t, 1, st.versions)
	now = now.Add(time.Second)
	_, _ = src.Audiences(ctx)
	require.Equal(t, 2, st.versions)
	require.Equal(t, 1, st.full)

	// The version moved: read again, the computed traits with the audiences.
	views, err := computed.Parse([]byte(`{"id": "views", "name": "Views", "event": "Product Viewed", "aggregate": "count"}`))
	require.NoError(t, err)
	st.version, st.defs, st.traits = 2, append(st.defs, definition(t, "vips")), []computed.Definition{views}
	now = now.Add(CheckEvery)
	got, err = src.Audiences(ctx)
	require.NoError(t, err)
	require.Equal(t, 2, got.Version)
	require.Len(t, got.Set.Definitions(), 2)
	require.Len(t, got.Traits.Definitions(), 1)

	// A store that cannot be read is bridged for StaleFor, then its error is returned.
	st.err = errors.New("throttled")
	now = now.Add(StaleFor - time.Second)
	got, err = src.Audiences(ctx)
	require.NoError(t, err)
	require.Equal(t, 2, got.Version)
	now = now.Add(time.Second)
	_, err = src.Audiences(ctx)
	require.ErrorContains(t, err, "throttled")

	// No definitions at all: no set, no error.
	empty := NewSource(&stored{})
	got, err = empty.Audiences(ctx)
	require.NoError(t, err)
	require.Nil(t, got.Set)
}

// sent keeps the messages a queue was given, failing the ones told.
type sent struct {
	msgs []message.Message
	fail map[int]error
}

func (s *sent) SendAll(_ context.Context, ms []message.Message) []error {
	errs := make([]error, len(ms))
	for i, m := range ms {
		if err := s.fail[i]; err != nil {
			errs[i] = err
			continue
		}
		s.msgs = append(s.msgs, m)
	}
	return errs
}

func TestQueueAnnouncesMessagesThatMatchTheirSchemas(t *testing.T) {
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	p := profile.Profile{ID: "prf_1", UserID: "u-1", AnonymousIDs: []string{"a-1"},
		Consent: map[string]profile.Consent{profile.PurposeMarketing: {Granted: false, At: at}}}
	email := identity.ID{Kind: identity.EmailSHA256, Value: "5d41402abc4b2a76b9719d911017c592aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}
	changes := []recording.AudienceChange{
		{Audience: "buyers", Entered: true, At: at, Since: at, Profile: p, ProfileVersion: 4, Claimed: []identity.ID{email}},
		{Audience: "browsers", At: at, Since: at.Add(-time.Hour), Profile: p, ProfileVersion: 4},
	}
	q := &sent{}
	require.NoError(t, Queue{Sender: q}.Announce(context.Background(), changes))
	require.Len(t, q.msgs, 2)
	for i, m := range q.msgs {
		body, err := json.Marshal(m)
		require.NoError(t, err)
		require.NoError(t, schemas.Validate(m.MessageType(), m.MessageVersion(), body), string(body))
		require.NoError(t, m.Validate())
		a := m.(message.AudienceChanged)
		require.Equal(t, changes[i].Audience, a.AudienceID)
		require.Equal(t, message.ConsentDenied, a.MarketingConsent)
	}
	in := q.msgs[0].(message.AudienceChanged)
	require.Equal(t, message.TypeAudienceEntered, in.Type)
	require.Equal(t, []string{email.String()}, in.Identifiers)
	require.Equal(t, message.TypeAudienceExited, q.msgs[1].MessageType())

	// One message not sent: the announcement fails, so the engine records none of them.
	err := Queue{Sender: &sent{fail: map[int]error{1: errors.New("throttled")}}}.Announce(context.Background(), changes)
	require.ErrorContains(t, err, "1 of 2 audience changes not sent")
}
