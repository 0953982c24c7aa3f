package recordingtest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/shared/beacon"
	"github.com/dcrm-project/dcrm/shared/history"
	"github.com/dcrm-project/dcrm/shared/identity"
	"github.com/dcrm-project/dcrm/shared/profile"
	"github.com/dcrm-project/dcrm/shared/recording"
)

// Behaviour runs every test of the engine's behaviour, each on a fresh storage.
func Behaviour(t *testing.T, newStorage NewStorage) {
	tests := map[string]func(*testing.T, NewStorage){
		"TwoDevicesBecomeOneProfile":                    twoDevicesBecomeOneProfile,
		"RecordingTwiceChangesNothing":                  recordingTwiceChangesNothing,
		"BatchReadsTheStoreOnceForAllItsEvents":         batchReadsTheStoreOnceForAllItsEvents,
		"HighWaterMarkKeepsDeduplicationWhole":          highWaterMarkKeepsDeduplicationWhole,
		"MergeKeepsTheGreaterHighWaterMark":             mergeKeepsTheGreaterHighWaterMark,
		"MergedHistoriesAreReadForOlderEventsOnly":      mergedHistoriesAreReadForOlderEventsOnly,
		"MergeReadsEachProfileOnce":                     mergeReadsEachProfileOnce,
		"MergeInABatchRereadsWhatItChangedAlone":        mergeInABatchRereadsWhatItChangedAlone,
		"EventSentAgainLaterIsRecordedOnce":             eventSentAgainLaterIsRecordedOnce,
		"EventWhoseTouchpointWasLostIsRecordedOnce":     eventWhoseTouchpointWasLostIsRecordedOnce,
		"OutOfOrderEvents":                              outOfOrderEvents,
		"TwoUsersNeverMerge":                            twoUsersNeverMerge,
		"CrashBetweenMoveAndFoldIsFinishedByReplay":     crashBetweenMoveAndFoldIsFinishedByReplay,
		"CrashAfterClaimIsFinishedByNextEvent":          crashAfterClaimIsFinishedByNextEvent,
		"ConcurrentWritersConverge":                     concurrentWritersConverge,
		"TraitsRoundTrip":                               traitsRoundTrip,
		"NotFound":                                      notFound,
		"MergeRefusedHalfwayIsUndone":                   mergeRefusedHalfwayIsUndone,
		"StaleMergeMarkIsCleared":                       staleMergeMarkIsCleared,
		"ScreensAndGroupsAreRecorded":                   screensAndGroupsAreRecorded,
		"AliasJoinsAnAnonymousIDToAUser":                aliasJoinsAnAnonymousIDToAUser,
		"AliasLinksANewUserIDToAnEarlierOne":            aliasLinksANewUserIDToAnEarlierOne,
		"AliasNeverMergesTwoKnownUsers":                 aliasNeverMergesTwoKnownUsers,
		"BrowserHashedEmailCannotJoinTwoCustomers":      browserHashedEmailCannotJoinTwoCustomers,
		"TrustedHashedEmailJoinsAnAnonymousProfile":     trustedHashedEmailJoinsAnAnonymousProfile,
		"TrustedEmailOfAKnownCustomerTakesANewUserID":   trustedEmailOfAKnownCustomerTakesANewUserID,
		"IdentifierLimitsPerProfile":                    identifierLimitsPerProfile,
		"ShuffledReplayGivesTheSameAggregates":          shuffledReplayGivesTheSameAggregates,
		"ConsentLatestAnswerWinsAndSurvivesRecording":   consentLatestAnswerWinsAndSurvivesRecording,
		"HistoryAfterAMergeHoldsBothDevicesNewestFirst": historyAfterAMergeHoldsBothDevicesNewestFirst,
		"HistoryPagingIsStable":                         historyPagingIsStable,
		"TouchpointsExpireButPurchases":                 touchpointsExpireButPurchases,
		"OldEventsAreKeptLongEnoughToRecogniseAReplay":  oldEventsAreKeptLongEnoughToRecogniseAReplay,
		"ExportHoldsEverythingAboutThePerson":           exportHoldsEverythingAboutThePerson,
		"EraseLeavesNothingBehind":                      eraseLeavesNothingBehind,
		"EraseStoppedHalfWayIsFinished":                 eraseStoppedHalfWayIsFinished,
		"ErasureResumesStepByStep":                      erasureResumesStepByStep,
		"ErasureStoppedAnywhereIsFinished":              erasureStoppedAnywhereIsFinished,
		"ErasureOfAProfileClaimedForAMerge":             erasureOfAProfileClaimedForAMerge,
		"LiftedTombstoneRecordsAgain":                   liftedTombstoneRecordsAgain,
		"SplitOfAHistoryTooLongIsRefused":               splitOfAHistoryTooLongIsRefused,
		"ErrorsNameNoIdentifier":                        errorsNameNoIdentifier,
		"SplitUndoesAMergeWithoutLosingEvents":          splitUndoesAMergeWithoutLosingEvents,
		"ImpressionsSurviveASplit":                      impressionsSurviveASplit,
		"RecordingKeepsTheDueTime":                      recordingKeepsTheDueTime,
		"FireRecordsOncePerEpisode":                     fireRecordsOncePerEpisode,
		"MergedAndErasedProfilesLeaveTheIndex":          mergedAndErasedProfilesLeaveTheIndex,
		"FireLeavesAnErasureUnderWayAlone":              fireLeavesAnErasureUnderWayAlone,
		"DueStopsOnError":                               dueStopsOnError,
		"CheckInvariantsReportsABrokenGraph":            checkInvariantsReportsABrokenGraph,
		"IdentifyFloodLeavesTheProfileWritable":         identifyFloodLeavesTheProfileWritable,
		"MergeRefusedByStorageIsUndone":                 mergeRefusedByStorageIsUndone,
		"HostileProfileStaysWritable":                   hostileProfileStaysWritable,
		"FoldOfMaximalProfilesStaysWritable":            foldOfMaximalProfilesStaysWritable,
		"MergeFoundHalfDoneAndRefusedIsUndone":          mergeFoundHalfDoneAndRefusedIsUndone,
		"LargeOrdersLeaveTheProfileWritable":            largeOrdersLeaveTheProfileWritable,
		"AudiencesFollowEventsAndWindows":               audiencesFollowEventsAndWindows,
		"AudienceChangeIsAnnouncedBeforeItIsRecorded":   audienceChangeIsAnnouncedBeforeItIsRecorded,
		"NewAudiencesAreBackFilledFromTheHistory":       newAudiencesAreBackFilledFromTheHistory,
		"StaleNamesWhatAScanMustReevaluate":             staleNamesWhatAScanMustReevaluate,
		"ComputedTraitsFollowEventsAndWindows":          computedTraitsFollowEventsAndWindows,
		"AudienceMembershipMatchesARecomputation":       func(t *testing.T, ns NewStorage) { audienceMembershipMatchesARecomputation(t, ns, 3) },
	}
	for _, name := range sortedKeys(tests) {
		t.Run(name, func(t *testing.T) { tests[name](t, newStorage) })
	}
}

func twoDevicesBecomeOneProfile(t *testing.T, ns NewStorage) {
	f := New(t, ns)
	rs := f.Record(t,
		Page("m1", "A1", 0),
		Track("m2", "A1", "", 1),
		Identify("m3", "A1", "U", 2, map[string]any{"email": "u@example.com", "plan": "free"}),
		Page("m4", "A2", 10),
		Track("m5", "A2", "", 11),
		Identify("m6", "A2", "U", 12, map[string]any{"plan": "gold"}),
		Track("m7", "A2", "U", 13),
	)
	require.True(t, rs[0].Created)
	require.Equal(t, rs[0].ProfileID, rs[2].ProfileID, "logging in keeps the anonymous profile")
	require.True(t, rs[3].Created)
	second := rs[3].ProfileID
	require.Equal(t, []string{second}, rs[5].Merged, "the second device merges in when it logs in")
	require.Equal(t, rs[0].ProfileID, rs[5].ProfileID)

	live := f.LiveProfiles(t)
	require.Len(t, live, 1)
	p := live[0]
	require.Equal(t, rs[0].ProfileID, p.ID)
	require.Equal(t, "U", p.UserID)
	require.Equal(t, []string{"A1", "A2"}, p.AnonymousIDs)
	require.Equal(t, profile.Counts{Events: 7, PageViews: 2, Tracks: 3, Identifies: 2}, p.Counts)
	require.Equal(t, At(0), p.FirstSeen)
	require.Equal(t, At(13), p.LastSeen)
	require.Equal(t, map[string]any{"email": "u@example.com", "plan": "gold"}, p.Traits)
	require.Equal(t, []string{second}, p.MergedFrom)
	log, err := f.Merges(context.Background(), second)
	require.NoError(t, err)
	require.Equal(t, []identity.Merge{{From: second, Into: p.ID, At: Now, MessageID: "m6", Via: identity.AnonymousID("A2")}}, log,
		"the merge is explained: which event, through which identifier, when")

	for _, id := range []identity.ID{identity.AnonymousID("A1"), identity.AnonymousID("A2"), identity.UserID("U")} {
		require.Equal(t, p.ID, f.Lookup(t, id).ID, "%s leads to the live profile", id)
	}
	merged, err := f.Profile(context.Background(), second)
	require.NoError(t, err)
	require.Equal(t, p.ID, merged.ID, "a merged profile id resolves to the live profile")

	for id, e := range f.Entries(t) {
		require.Equal(t, p.ID, e.ProfileID, id)
		require.Empty(t, e.MovedFrom, "merge mark left on %s", id)
	}
	require.Equal(t, p.ID, f.Stored(t, second).Profile.MergedInto)
	tps := f.Touchpoints(t)
	require.Len(t, tps, 7, "one touchpoint per event")
	require.Equal(t, rs[0].ProfileID, tps["m1"].ProfileID, "kept on the profile it was recorded on")
	require.Equal(t, second, tps["m4"].ProfileID)
	require.Equal(t, beacon.Page, tps["m1"].Type)
}

func recordingTwiceChangesNothing(t *testing.T, ns NewStorage) {
	f := New(t, ns)
	acts := []profile.Activity{
		Page("m1", "A1", 0), Identify("m2", "A1", "U", 1, map[string]any{"name": "Ann"}),
		Page("m3", "A2", 2), Identify("m4", "A2", "U", 3, nil), Track("m5", "", "U", 4),
	}
	f.Record(t, acts...)
	before := f.Snapshot(t)
	f.Clock.Set(Now.Add(time.Hour)) // a replay happens later
	for i, r := range f.Record(t, acts...) {
		require.True(t, r.Duplicate, "event %d recorded twice", i)
	}
	require.Equal(t, before, f.Snapshot(t))
}

// An event sent again is recorded once by its message id, although its corrected time differs
// (the endpoint corrects the sender's clock by when it received it): by the sender's own time when
// it gave one, else by a receipt of its message id. Even after the device merged into another
// profile.
func eventSentAgainLaterIsRecordedOnce(t *testing.T, ns NewStorage) {
	f := New(t, ns)
	clientTimed := Page("m1", "A", 0)
	clientTimed.At = At(0).Add(3 * time.Second) // corrected: received 3 s after it was sent
	serverTimed := Page("m2", "A", 1)
	serverTimed.ClientAt = time.Time{} // sent without a time: it happened when received
	f.Record(t, clientTimed, serverTimed, Identify("m3", "A", "U", 2, nil), Page("m4", "B", 3), Identify("m5", "B", "U", 4, nil))

	clientTimed.At = At(0).Add(5 * time.Second) // sent again, received later
	serverTimed.At = At(30)
	merged := Page("m4", "B", 3) // recorded on B's profile, merged into U's since
	merged.At = At(3).Add(time.Second)
	before := f.Snapshot(t)
	for i, r := range f.Record(t, clientTimed, serverTimed, merged) {
		require.True(t, r.Duplicate, "event %d recorded twice", i)
	}
	require.Equal(t, before, f.Snapshot(t))
	require.Equal(t, 5, f.Lookup(t, identity.UserID("U")).Counts.Events)
	receipts, err := f.St.Recorded(context.Background(), nil, []string{"m1", "m2", "m3", "m4", "m5"})
	require.NoError(t, err)
	require.Equal(t, map[string]bool{"m2": true}, receipts, "a receipt only for the event the endpoint timed")
}

// A crash between a profile's write and its touchpoints' leaves the event known only by the
// profile's recent message ids; when that profile joins another before the retry, the ids come
// along, and the retried event is still recorded once (its touchpoint written then).
func eventWhoseTouchpointWasLostIsRecordedOnce(t *testing.T, ns NewStorage) {
	f := New(t, ns)
	lost := Page("m1", "A", 0)
	device := f.Record(t, lost)[0].ProfileID
	_, err := f.St.Delete(context.Background(), []history.Key{{ProfileID: device, Sort: history.SortKey(lost)}}) // the crash
	require.NoError(t, err)
	f.Record(t, Identify("m2", "B", "U", 1, nil), Identify("m3", "A", "U", 2, nil))

	r := f.Record(t, lost)[0] // the retry
	require.True(t, r.Duplicate)
	p := f.Lookup(t, identity.UserID("U"))
	require.Equal(t, 3, p.Counts.Events)
	require.Contains(t, MessageIDs(f.History(t, p.ID, history.Query{Limit: 10})), "m1", "the retry writes the lost touchpoint")
}

func outOfOrderEvents(t *testing.T, ns NewStorage) {
	f := New(t, ns)
	f.Record(t, Page("m1", "A", 30), Page("m2", "A", 10), Track("m3", "A", "", 50), Page("m4", "A", 0))
	p := f.Lookup(t, identity.AnonymousID("A"))
	require.Equal(t, At(0), p.FirstSeen)
	require.Equal(t, At(50), p.LastSeen)
	require.Equal(t, 4, p.Counts.Events)
}

func twoUsersNeverMerge(t *testing.T, ns NewStorage) {
	f := New(t, ns)
	rs := f.Record(t,
		Identify("m1", "A", "U1", 0, nil),
		Identify("m2", "A", "U2", 1, nil), // someone else logs in on the same browser
		Track("m3", "", "U2", 2),
	)
	require.NotEqual(t, rs[0].ProfileID, rs[1].ProfileID)
	require.Empty(t, rs[1].Merged)
	u1, u2 := f.Lookup(t, identity.UserID("U1")), f.Lookup(t, identity.UserID("U2"))
	require.Equal(t, []string{"A"}, u1.AnonymousIDs)
	require.Empty(t, u2.AnonymousIDs, "the anonymous id stays with the first user")
	require.Equal(t, u1.ID, f.Lookup(t, identity.AnonymousID("A")).ID)
	require.Equal(t, 2, u2.Counts.Events)
	require.Len(t, f.LiveProfiles(t), 2)
}

// claimForMerge does what a merge of profile from into profile into does before it folds: it
// claims from and moves the given identifier, marked.
func (f Fixture) claimForMerge(t *testing.T, from, into string, id identity.ID) {
	t.Helper()
	f.Rewrite(t, from, func(r *recording.Record) { r.MergingInto = into })
	require.NoError(t, f.St.Move(context.Background(), recording.Move{ID: id, From: from, To: into, Mark: from, AnyMark: true, At: Now}))
}

// A crash after a merge moved the identifiers but before it folded the profile: replaying the
// event (or any event on the identifier) finishes the merge.
func crashBetweenMoveAndFoldIsFinishedByReplay(t *testing.T, ns NewStorage) {
	for _, replay := range []profile.Activity{Identify("m6", "A2", "U", 12, nil), Page("m7", "A2", 13)} {
		t.Run(replay.Type, func(t *testing.T) {
			f := New(t, ns)
			rs := f.Record(t, Identify("m1", "A1", "U", 0, nil), Page("m2", "A2", 5), Page("m3", "A2", 6))
			known, anon := rs[0].ProfileID, rs[1].ProfileID
			f.claimForMerge(t, anon, known, identity.AnonymousID("A2"))
			require.Equal(t, known, f.Lookup(t, identity.AnonymousID("A2")).ID)

			r := f.Record(t, replay)[0]
			require.Equal(t, known, r.ProfileID)
			require.Equal(t, []string{anon}, r.Merged)
			p := f.Lookup(t, identity.UserID("U"))
			require.Equal(t, 4, p.Counts.Events, "three events before the crash and the replayed one")
			require.Equal(t, []string{"A1", "A2"}, p.AnonymousIDs)
			require.Equal(t, At(0), p.FirstSeen)
			require.Len(t, f.LiveProfiles(t), 1)
			require.NoError(t, f.CheckInvariants(context.Background()))

			// Replaying once more changes nothing.
			before := f.Records(t)
			require.True(t, f.Record(t, replay)[0].Duplicate)
			require.Equal(t, before, f.Records(t))
		})
	}
}

// A crash after claiming identifiers for a new profile, before writing it: the next event creates it.
func crashAfterClaimIsFinishedByNextEvent(t *testing.T, ns NewStorage) {
	ctx := context.Background()
	f := New(t, ns)
	require.NoError(t, f.St.Claim(ctx, identity.AnonymousID("A"), "prf_orphan", Now))
	_, err := f.Engine.Lookup(ctx, identity.AnonymousID("A"))
	require.ErrorIs(t, err, profile.ErrNotFound)

	r := f.Record(t, Page("m1", "A", 0))[0]
	require.Equal(t, "prf_orphan", r.ProfileID)
	require.Equal(t, 1, f.Lookup(t, identity.AnonymousID("A")).Counts.Events)
}

// Writers on several shards record one customer's devices at once; they converge on one profile
// that counts every event once.
func concurrentWritersConverge(t *testing.T, ns NewStorage) {
	f := New(t, ns)
	const devices, perDevice = 8, 10
	var wg sync.WaitGroup
	var failed atomic.Value
	for d := range devices {
		wg.Go(func() {
			anon := fmt.Sprintf("A%d", d)
			for i := range perDevice {
				a := Page(fmt.Sprintf("%s-%d", anon, i), anon, d*10+i)
				if i == perDevice/2 {
					a = Identify(a.MessageID, anon, "U", a.At.Minute(), map[string]any{"device": anon})
				}
				if _, err := f.Engine.Record(context.Background(), a); err != nil {
					failed.Store(err)
				}
			}
		})
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		t.Fatal(err)
	}
	live := f.LiveProfiles(t)
	require.Len(t, live, 1)
	require.Equal(t, devices*perDevice, live[0].Counts.Events)
	require.Equal(t, devices, live[0].Counts.Identifies)
	require.Len(t, live[0].AnonymousIDs, devices)
	require.Equal(t, "U", live[0].UserID)
	require.NoError(t, f.CheckInvariants(context.Background()))
}

func traitsRoundTrip(t *testing.T, ns NewStorage) {
	f := New(t, ns)
	traits := map[string]any{
		"email": "u@example.com", "nickname": "", "age": 41.0, "vip": true, "fax": nil,
		"address": map[string]any{"city": "Leeds", "line2": ""}, "tags": []any{"a", 2.0},
	}
	f.Record(t, Identify("m1", "", "U", 0, traits))
	require.Equal(t, traits, f.Lookup(t, identity.UserID("U")).Traits)
}

func notFound(t *testing.T, ns NewStorage) {
	f := New(t, ns)
	_, err := f.Profile(context.Background(), "prf_nope")
	require.ErrorIs(t, err, profile.ErrNotFound)
	_, err = f.Engine.Lookup(context.Background(), identity.UserID("nobody"))
	require.ErrorIs(t, err, profile.ErrNotFound)
}

// A merge that finds, by the time it folds, that the profile it claimed has another user (which
// the claim should prevent: here it is written behind its back) is undone: the identifiers go
// back and the claim is dropped.
func mergeRefusedHalfwayIsUndone(t *testing.T, ns NewStorage) {
	f := New(t, ns)
	rs := f.Record(t, Page("m1", "A", 0), Identify("m2", "", "U2", 1, nil))
	anon, u2 := rs[0].ProfileID, rs[1].ProfileID

	// The merge of an identify(A, U2) claims the profile and moves A; then the profile gains U1.
	f.claimForMerge(t, anon, u2, identity.AnonymousID("A"))
	f.Rewrite(t, anon, func(r *recording.Record) { r.Profile.UserID = "U1" })

	got := f.Record(t, Page("m3", "A", 2))[0]
	require.Equal(t, anon, got.ProfileID, "the event goes to the profile A belongs to")
	require.Empty(t, got.Merged)
	require.Equal(t, anon, f.Lookup(t, identity.AnonymousID("A")).ID)
	require.Equal(t, 2, f.Lookup(t, identity.AnonymousID("A")).Counts.Events)
	require.Equal(t, 1, f.Lookup(t, identity.UserID("U2")).Counts.Events)
	require.Empty(t, f.Entry(t, identity.AnonymousID("A")).MovedFrom)
	require.Empty(t, f.Stored(t, anon).MergingInto)
}

// A mark left behind after a finished merge (a crash before clearing it) is cleared; nothing is
// folded twice.
func staleMergeMarkIsCleared(t *testing.T, ns NewStorage) {
	ctx := context.Background()
	f := New(t, ns)
	rs := f.Record(t, Identify("m1", "A1", "U", 0, nil), Page("m2", "A2", 1), Identify("m3", "A2", "U", 2, nil))
	live := rs[0].ProfileID
	require.NoError(t, f.St.Move(ctx, recording.Move{ID: identity.AnonymousID("A2"), From: live, To: live, Mark: rs[1].ProfileID, At: Now}))

	r := f.Record(t, Page("m4", "A2", 3))[0]
	require.Empty(t, r.Merged)
	require.Equal(t, 4, f.Lookup(t, identity.UserID("U")).Counts.Events)
	require.Empty(t, f.Entry(t, identity.AnonymousID("A2")).MovedFrom)
}

// Two writers claimed two profiles into each other at the same moment: whoever finds the loop
// undoes one claim, the same one whoever finds it, and the other merge goes on.
func profilesClaimedIntoEachOtherMergeOnce(t *testing.T, ns NewStorage) {
	f := New(t, ns)
	a, b := f.Record(t, Page("m1", "A1", 0))[0].ProfileID, f.Record(t, Page("m2", "A2", 1))[0].ProfileID
	f.Rewrite(t, a, func(r *recording.Record) {
		r.MergingInto, r.Cause = b, recording.Cause{MessageID: "x", Via: identity.AnonymousID("A1")}
	})
	f.Rewrite(t, b, func(r *recording.Record) {
		r.MergingInto, r.Cause = a, recording.Cause{MessageID: "y", Via: identity.AnonymousID("A2")}
	})

	f.Record(t, Page("m3", "A1", 2))
	live := f.LiveProfiles(t)
	require.Len(t, live, 1, "one merged into the other")
	require.Equal(t, []string{"A1", "A2"}, live[0].AnonymousIDs)
	require.Equal(t, 3, live[0].Counts.Events)
	require.Equal(t, live[0].ID, f.Lookup(t, identity.AnonymousID("A2")).ID)
	require.NoError(t, f.CheckInvariants(context.Background()))
}

// A merge moved an identifier to the profile it was joining, which then merged on into a third
// before the first merge was folded: finishing the first merge gathers the identifier to the
// live profile.
func identifierMovedOnByALaterMergeIsGathered(t *testing.T, ns NewStorage) {
	f := New(t, ns)
	p, m := f.Record(t, Page("m1", "A", 0))[0].ProfileID, f.Record(t, Page("m2", "B", 1))[0].ProfileID
	l := f.Record(t, Identify("m3", "C", "U", 2, nil))[0].ProfileID
	f.claimForMerge(t, p, m, identity.AnonymousID("A"))                                    // p's merge into m moved A, then stopped
	require.Equal(t, []string{m}, f.Record(t, Identify("m4", "B", "U", 3, nil))[0].Merged) // m joins l

	r := f.Record(t, Page("m5", "A", 4))[0]
	require.Equal(t, l, r.ProfileID)
	require.Equal(t, []string{p}, r.Merged, "the stopped merge is finished, into the live profile")
	require.Equal(t, recording.Entry{ID: identity.AnonymousID("A"), ProfileID: l, CreatedAt: f.Entry(t, identity.AnonymousID("A")).CreatedAt,
		UpdatedAt: Now}, f.Entry(t, identity.AnonymousID("A")))
	require.Equal(t, 5, f.Lookup(t, identity.UserID("U")).Counts.Events)
	require.NoError(t, f.CheckInvariants(context.Background()))
}

// An identifier claimed for a profile that merged into another before it was written points at
// the merged profile, listed by none; the next event carrying it, wherever that event goes, makes
// the live profile list it.
func identifierOfAProfileMergedUnwrittenIsAdopted(t *testing.T, ns NewStorage) {
	ctx := context.Background()
	f := New(t, ns)
	require.NoError(t, f.St.Claim(ctx, identity.AnonymousID("X"), "prf_unwritten", Now))
	require.NoError(t, f.St.Claim(ctx, Email(1), "prf_unwritten", Now))
	r := f.RecordClaims(t, Track("m1", "", "U", 0), true, Email(1)) // the CRM says U has that email
	require.Equal(t, []string{"prf_unwritten"}, r.Merged)
	require.Equal(t, "prf_unwritten", f.Entry(t, identity.AnonymousID("X")).ProfileID, "the merge knew nothing of X")

	v := f.Record(t, Identify("m2", "X", "V", 1, nil))[0] // another user logs in on X's device
	require.NotEqual(t, r.ProfileID, v.ProfileID, "V's event goes to V's profile")
	require.Equal(t, r.ProfileID, f.Entry(t, identity.AnonymousID("X")).ProfileID, "X belongs to U's profile")
	require.Equal(t, []string{"X"}, f.Lookup(t, identity.UserID("U")).AnonymousIDs, "which lists it")
	require.NoError(t, f.CheckInvariants(ctx))
}

func screensAndGroupsAreRecorded(t *testing.T, ns NewStorage) {
	f := New(t, ns)
	f.Record(t,
		profile.Activity{MessageID: "m1", Type: beacon.Screen, AnonymousID: "A", At: At(0)},
		profile.Activity{MessageID: "m2", Type: beacon.Screen, AnonymousID: "A", At: At(1)},
		profile.Activity{MessageID: "m3", Type: beacon.Group, AnonymousID: "A", GroupID: "acme", At: At(2)},
		profile.Activity{MessageID: "m4", Type: beacon.Group, AnonymousID: "A", GroupID: "acme", At: At(3)},
		profile.Activity{MessageID: "m5", Type: beacon.Group, AnonymousID: "B", GroupID: "beta", At: At(4)},
		Identify("m6", "B", "U", 5, nil),
		Identify("m7", "A", "U", 6, nil), // A's profile merges into U's
	)
	p := f.Lookup(t, identity.UserID("U"))
	require.Equal(t, []string{"A", "B"}, p.AnonymousIDs)
	require.Equal(t, []string{"acme", "beta"}, p.Groups, "groups survive a merge")
	require.Equal(t, profile.Counts{Events: 7, Screens: 2, Identifies: 2}, p.Counts)
}

func aliasJoinsAnAnonymousIDToAUser(t *testing.T, ns NewStorage) {
	f := New(t, ns)
	rs := f.Record(t, Page("m1", "A", 0), Track("m2", "", "U", 1), Alias("m3", "A", "U", 2))
	require.Equal(t, []string{rs[0].ProfileID}, rs[2].Merged, "the anonymous profile merges into the user's")
	p := f.Lookup(t, identity.AnonymousID("A"))
	require.Equal(t, rs[1].ProfileID, p.ID)
	require.Equal(t, "U", p.UserID)
	require.Equal(t, profile.Counts{Events: 3, PageViews: 1, Tracks: 1}, p.Counts)
	require.Len(t, f.LiveProfiles(t), 1)

	require.True(t, f.Record(t, Alias("m3", "A", "U", 2))[0].Duplicate, "a replayed alias changes nothing")
}

func aliasLinksANewUserIDToAnEarlierOne(t *testing.T, ns NewStorage) {
	f := New(t, ns)
	rs := f.Record(t,
		Identify("m1", "A", "old@example.com", 0, nil),
		Alias("m2", "old@example.com", "cust-7", 1),
		Track("m3", "", "cust-7", 2),
	)
	require.Equal(t, rs[0].ProfileID, rs[1].ProfileID)
	require.Equal(t, rs[0].ProfileID, rs[2].ProfileID, "the new user id finds the earlier profile")
	p := f.Lookup(t, identity.UserID("cust-7"))
	require.Equal(t, "old@example.com", p.UserID)
	require.Equal(t, 3, p.Counts.Events)
	require.Len(t, f.LiveProfiles(t), 1)
}

func aliasNeverMergesTwoKnownUsers(t *testing.T, ns NewStorage) {
	f := New(t, ns)
	rs := f.Record(t, Track("m1", "A1", "U1", 0), Track("m2", "A2", "U2", 1), Alias("m3", "U1", "U2", 2))
	require.Equal(t, rs[1].ProfileID, rs[2].ProfileID, "the alias is recorded on the new user's profile")
	require.Empty(t, rs[2].Merged)
	require.Len(t, f.LiveProfiles(t), 2)
	require.Equal(t, rs[0].ProfileID, f.Lookup(t, identity.UserID("U1")).ID)
	require.Equal(t, rs[1].ProfileID, f.Lookup(t, identity.UserID("U2")).ID)
}

func consentLatestAnswerWinsAndSurvivesRecording(t *testing.T, ns NewStorage) {
	f := New(t, ns)
	ctx := context.Background()
	rs := f.Record(t, Page("m1", "a-1", 0))
	id := rs[0].ProfileID
	require.Equal(t, 1, rs[0].Version)
	require.Equal(t, []string{"anonymousId:a-1"}, rs[0].Added)

	live, state, err := f.SetConsent(ctx, id, map[string]profile.Consent{
		profile.PurposeAnalytics: {Granted: true, At: At(5), Source: "banner"},
		profile.PurposeMarketing: {Granted: false, At: At(5), Source: "banner"},
	})
	require.NoError(t, err)
	require.Equal(t, id, live)
	require.True(t, state[profile.PurposeAnalytics].Granted)

	// An older answer loses; a newer one wins.
	_, state, err = f.SetConsent(ctx, id, map[string]profile.Consent{
		profile.PurposeAnalytics: {Granted: false, At: At(1), Source: "crm"},
		profile.PurposeMarketing: {Granted: true, At: At(9), Source: "crm"},
	})
	require.NoError(t, err)
	require.Equal(t, profile.Consent{Granted: true, At: At(5), Source: "banner"}, state[profile.PurposeAnalytics])
	require.Equal(t, profile.Consent{Granted: true, At: At(9), Source: "crm"}, state[profile.PurposeMarketing])

	// Recording events on the profile keeps the consent.
	rs = f.Record(t, Identify("m2", "a-1", "u-1", 10, map[string]any{"plan": "gold"}))
	require.Equal(t, 4, rs[0].Version, "each consent change is a version")
	require.Equal(t, []string{"userId:u-1"}, rs[0].Added)
	require.Equal(t, []string{"plan"}, rs[0].TraitsChanged)
	require.Equal(t, state, f.Lookup(t, identity.UserID("u-1")).Consent)

	// Another device's tracker refuses marketing later; when it logs in, its answer comes along.
	dev := Page("m3", "a-2", 12)
	dev.Consent = map[string]profile.Consent{profile.PurposeMarketing: {Granted: false, At: At(12), Source: profile.EventSource}}
	rs = f.Record(t, dev, Identify("m4", "a-2", "u-1", 13, nil))
	require.NotEmpty(t, rs[1].Merged)
	p := f.Lookup(t, identity.UserID("u-1"))
	require.Equal(t, profile.Consent{Granted: false, At: At(12), Source: profile.EventSource}, p.Consent[profile.PurposeMarketing])
	require.Equal(t, state[profile.PurposeAnalytics], p.Consent[profile.PurposeAnalytics])

	_, _, err = f.SetConsent(ctx, "prf_nobody", map[string]profile.Consent{profile.PurposeAnalytics: {At: At(1)}})
	require.ErrorIs(t, err, profile.ErrNotFound)
}

// A split undoes a wrong merge (a shared device logged in as someone else's account): each
// profile gets back its identifiers and its events, nothing is lost or counted twice, the two
// never merge again, and replays change nothing.
func splitUndoesAMergeWithoutLosingEvents(t *testing.T, ns NewStorage) {
	ctx := context.Background()
	f := New(t, ns)
	acts := []profile.Activity{
		Page("m1", "A1", 0), Identify("m2", "A1", "U", 1, map[string]any{"plan": "gold"}),
		Page("m3", "A2", 2), Order("m4", "A2", "", 3),
		Identify("m5", "A2", "U", 4, map[string]any{"plan": "platinum"}), // the wrong login
		Page("m6", "A2", 5), // through the shared device, on the user's profile now
		Track("m7", "", "U", 6),
	}
	rs := f.Record(t, acts...)
	user, device := rs[0].ProfileID, rs[2].ProfileID
	require.Equal(t, []string{device}, rs[4].Merged)
	log, err := f.Merges(ctx, user)
	require.NoError(t, err)
	require.Equal(t, []identity.Merge{{From: device, Into: user, At: Now, MessageID: "m5", Via: identity.AnonymousID("A2")}}, log)

	out, err := f.Split(ctx, user, device)
	require.NoError(t, err)
	require.Equal(t, recording.Separation{ProfileID: user, SplitID: device, Identifiers: 1, Touchpoints: 1}, out)
	require.NoError(t, f.CheckInvariants(ctx))

	u, d := f.Lookup(t, identity.UserID("U")), f.Lookup(t, identity.AnonymousID("A2"))
	require.Equal(t, user, u.ID)
	require.Equal(t, device, d.ID, "the device resolves to its own profile again")
	require.Equal(t, []string{"A1"}, u.AnonymousIDs)
	require.Equal(t, []string{"A2"}, d.AnonymousIDs)
	require.Empty(t, u.MergedFrom)
	require.Equal(t, profile.Counts{Events: 4, PageViews: 1, Tracks: 1, Identifies: 2}, u.Counts, "m1, m2, the login m5 and m7")
	require.Equal(t, profile.Counts{Events: 3, PageViews: 2, Tracks: 1}, d.Counts, "m3, m4 and m6")
	require.Equal(t, 1, d.OrderCount, "the order goes back with the device")
	require.Zero(t, u.OrderCount)
	require.Equal(t, "platinum", u.Traits["plan"], "the login's traits stay with the user")
	require.Equal(t, []string{"m6", "m4", "m3"}, MessageIDs(f.History(t, device, history.Query{Limit: 10})))
	require.Equal(t, []string{"m7", "m5", "m2", "m1"}, MessageIDs(f.History(t, user, history.Query{Limit: 10})))
	log, err = f.Merges(ctx, user)
	require.NoError(t, err)
	require.Empty(t, log)

	// The same login again does not merge them: the event goes to the user, the device stays.
	again := f.Record(t, Identify("m8", "A2", "U", 7, nil))[0]
	require.Equal(t, user, again.ProfileID)
	require.Empty(t, again.Merged)
	require.Equal(t, device, f.Lookup(t, identity.AnonymousID("A2")).ID)

	before := f.Snapshot(t)
	for i, r := range f.Record(t, append(acts, Identify("m8", "A2", "U", 7, nil))...) {
		require.True(t, r.Duplicate, "event %d recorded twice after the split", i)
	}
	require.Equal(t, before, f.Snapshot(t), "a replay after the split changed stored items")

	// Splitting again finishes nothing more; a profile that was never merged cannot be split.
	out, err = f.Split(ctx, user, device)
	require.NoError(t, err)
	require.Zero(t, out.Touchpoints)
	_, err = f.Split(ctx, device, user)
	require.ErrorIs(t, err, recording.ErrNotMerged)
}

func checkInvariantsReportsABrokenGraph(t *testing.T, ns NewStorage) {
	f := New(t, ns)
	ctx := context.Background()
	f.Record(t, Identify("m1", "A1", "U", 0, nil), Page("m2", "A2", 1))
	require.NoError(t, f.CheckInvariants(ctx))

	u := f.Lookup(t, identity.UserID("U"))
	// An orphan identifier, a second live profile of U, and an identifier its profile does not list.
	require.NoError(t, f.St.Claim(ctx, identity.AnonymousID("A3"), "prf_gone", Now))
	twin := recording.Record{Profile: profile.Profile{ID: "prf_twin", UserID: "U"}}
	require.NoError(t, f.St.Commit(ctx, recording.Change{Puts: []recording.Put{{Base: recording.Record{Profile: profile.Profile{ID: "prf_twin"}}, Next: twin}}}))
	require.NoError(t, f.St.Claim(ctx, identity.AnonymousID("A4"), u.ID, Now))

	err := f.CheckInvariants(ctx)
	require.ErrorIs(t, err, recording.ErrInvariant)
	require.ErrorContains(t, err, "identity anonymousId:A3 points at profile prf_gone, which does not exist")
	require.ErrorContains(t, err, "share userId U")
	require.ErrorContains(t, err, "profile prf_twin lists userId:U, whose identity item points at \""+u.ID+"\"")
	require.ErrorContains(t, err, "identity anonymousId:A4 points at profile "+u.ID+", which does not list it")
}

var errStop = errors.New("stop")
