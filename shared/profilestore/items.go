package profilestore

import (
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/dcrm-project/dcrm/shared/profile"
)

// profileItem is a row of the Profiles table. Stitch owns the behaviour fields and the version (an
// optimistic lock it checks on every write); score owns the score fields and lapseAlertedAt. Each
// writes only its own fields, so neither overwrites the other.
type profileItem struct {
	ProfileID    string   `dynamo:"profileId,hash"`
	UserID       string   `dynamo:"userId,omitempty"`
	AnonymousIDs []string `dynamo:"anonymousIds,omitempty"`
	// Hashed are the claimed identifiers (every kind but anonymousId and userId: "emailSha256:<hex>",
	// "deviceId:…", "externalId:crm_id:…"), sorted; the attribute keeps its first name.
	Hashed     []string             `dynamo:"hashedIds,omitempty"`
	Traits     traits               `dynamo:"traits,omitempty"`
	TraitTimes map[string]time.Time `dynamo:"traitTimes,omitempty"`
	FirstSeen  time.Time            `dynamo:"firstSeen,omitempty"`
	LastSeen   time.Time            `dynamo:"lastSeen,omitempty"`
	Counts     counts               `dynamo:"counts"`
	Groups     []string             `dynamo:"groups,omitempty"`
	MergedInto string               `dynamo:"mergedInto,omitempty"`
	MergedFrom []string             `dynamo:"mergedFrom,omitempty"`
	// MergingInto claims the profile for a merge into another until MergedInto is set (see merge).
	MergingInto string `dynamo:"mergingInto,omitempty"`
	// What asked for the merge, kept on the merged profile to explain it (Merges).
	MergeEvent   string    `dynamo:"mergeEvent,omitempty"`   // the message id of the event
	MergeVia     string    `dynamo:"mergeVia,omitempty"`     // the identifier that joined the two
	MergeTrusted bool      `dynamo:"mergeTrusted,omitempty"` // from a server-side source
	MergedAt     time.Time `dynamo:"mergedAt,omitempty"`
	// SplitFrom are the profiles an operator split this one from (Split); it never merges with
	// them again.
	SplitFrom []string  `dynamo:"splitFrom,omitempty"`
	SplitAt   time.Time `dynamo:"splitAt,omitempty"`
	UpdatedAt time.Time `dynamo:"updatedAt,omitempty"`
	Version   int       `dynamo:"version"`
	// Recent are the message ids of the latest events recorded on the profile (see recentIDs).
	Recent []byte `dynamo:"recentIds,omitempty"`
	// ErasedAt is set when the person's erasure began (Erase); the item is deleted when it ends.
	ErasedAt time.Time `dynamo:"erasedAt,omitempty"`
	// Consent is owned by the profile API (SetConsent).
	Consent map[string]consentItem `dynamo:"consent,omitempty"`

	// Scores and LapseAlertedAt are owned by the score function (scores.go).
	Scores         *scoreItem `dynamo:"scores,omitempty"`
	LapseAlertedAt time.Time  `dynamo:"lapseAlertedAt,omitempty"`

	// DueShard and DueAt key the sparse due index (triggers.go): present while a trigger can fire
	// for the profile, DueAt being when. Whoever writes the behaviour or the trigger state sets them.
	DueShard string `dynamo:"dueShard,omitempty"`
	DueAt    string `dynamo:"dueAt,omitempty"`
	// Fired is what triggers fired for the profile, kept as long as it can matter (trigger.State);
	// owned by the triggers schedule (SaveFired).
	Fired []firedItem `dynamo:"triggersFired,omitempty"`

	aggregateFields // sessions, commerce and forms, owned by stitch
}

type counts struct {
	Events     int `dynamo:"events"`
	PageViews  int `dynamo:"pageViews"`
	Tracks     int `dynamo:"tracks"`
	Identifies int `dynamo:"identifies"`
	Screens    int `dynamo:"screens"`
}

// identityItem is a row of the Identities table: one identifier and the profile it belongs to.
// MergedFrom is set on an identifier that a merge moved here, until the merge is complete: it tells
// whoever reads the identifier that the profile it came from may still have to be folded in.
type identityItem struct {
	Identifier string    `dynamo:"identifier,hash"`
	ProfileID  string    `dynamo:"profileId"`
	MergedFrom string    `dynamo:"mergedFrom,omitempty"`
	CreatedAt  time.Time `dynamo:"createdAt"`
	UpdatedAt  time.Time `dynamo:"updatedAt,omitempty"`
	// ErasedAt marks a tombstone: the identifier's person was erased (it has no profile any more)
	// and events carrying it are refused (ErrErased).
	ErasedAt time.Time `dynamo:"erasedAt,omitempty"`
}

// traits are stored as a native DynamoDB map, empty strings and nulls included.
type traits map[string]any

func (t traits) MarshalDynamo() (types.AttributeValue, error) {
	if len(t) == 0 {
		return nil, nil
	}
	av, err := attributevalue.Marshal(map[string]any(t))
	if err != nil {
		return nil, fmt.Errorf("marshal traits: %w", err)
	}
	return av, nil
}

func (t *traits) UnmarshalDynamo(av types.AttributeValue) error {
	var m map[string]any
	if err := attributevalue.Unmarshal(av, &m); err != nil {
		return fmt.Errorf("unmarshal traits: %w", err)
	}
	*t = m
	return nil
}

func (it profileItem) profile() profile.Profile {
	p := profile.Profile{
		ID: it.ProfileID, UserID: it.UserID, AnonymousIDs: it.AnonymousIDs,
		Traits: map[string]any(it.Traits), TraitTimes: it.TraitTimes,
		FirstSeen: it.FirstSeen, LastSeen: it.LastSeen,
		Counts: profile.Counts(it.Counts), Groups: it.Groups,
		MergedInto: it.MergedInto, MergedFrom: it.MergedFrom, UpdatedAt: it.UpdatedAt,
		LapseAlertedAt: it.LapseAlertedAt, Consent: toConsent(it.Consent),
	}
	it.aggregateFields.fill(&p)
	p.Score = it.Scores.score()
	return p
}
