package profilestore

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/guregu/dynamo/v2"

	"github.com/dcrm-project/dcrm/shared/activation"
	"github.com/dcrm-project/dcrm/shared/recording"
)

// The members index. The AudienceMembers table (topology.AudienceMemberTable) holds one item per
// person per audience, keyed by audience id and profile id, with what a destination needs of the
// member (activation.Member: since, userId, hashed email and phone, marketing consent), so that
// the members route and the exports page through an audience without reading a profile. The
// index is this adapter's, as the due index is: the engine writes memberships on the profile
// (Profile.Audiences) and knows nothing of it.
//
// Commit writes the member items a Put changes (activation.Changes: entered, left, or an item's
// identifiers or consent changed) in the same TransactWriteItems as the profile, so the index
// never disagrees with a profile written; a Put that changes none is still one UpdateItem, at the
// cost it had. Bury removes the person's items in the transaction that writes the tombstone.
//
// A transaction holds at most 100 actions, and a profile may be in up to 200 audiences: a Put
// that leaves 200 and enters 200 others writes 400 items. Such a change is split (splitCommit):
// first transactions of up to 99 member writes, each with an update of the profile item that
// holds only if the profile is still at the Put's version and no other writer's split moved on
// (pendingSeq), and that adds the audiences written to the profile's pendingMembers; last, the
// transaction that writes the profile with the rest and removes pendingMembers. The invariant:
// for every audience not in a profile's pendingMembers, the index holds exactly the item the
// profile's memberships call for. A split cut off (a crash, a lost race) leaves the profile at its
// old version with pendingMembers naming every item that may be wrong; every later Put of it holds
// only if there is no pendingMembers (ordinary writes) or reconciles them all, making each named
// item what it writes (the engine retries a write that failed, so one follows). An erasure's
// tombstone does the same. DynamoDB refuses a transaction of more than 100 actions; nothing here
// builds one.

// maxTxActions is DynamoDB's limit on the actions of one transaction.
const maxTxActions = 100

// MemberTable is the AudienceMembers table.
type MemberTable struct {
	table dynamo.Table
}

// memberItem is a row of the AudienceMembers table.
type memberItem struct {
	Audience  string    `dynamo:"audienceId,hash"`
	ProfileID string    `dynamo:"profileId,range"`
	Since     time.Time `dynamo:"since"`
	UserID    string    `dynamo:"userId,omitempty"`
	Emails    []string  `dynamo:"emailSha256,omitempty"`
	Phones    []string  `dynamo:"phoneSha256,omitempty"`
	Marketing string    `dynamo:"marketingConsent,omitempty"`
}

func (it memberItem) member() activation.Member {
	return activation.Member{Audience: it.Audience, ProfileID: it.ProfileID, Since: it.Since, UserID: it.UserID,
		Emails: it.Emails, Phones: it.Phones, Marketing: it.Marketing}
}

func newMemberItem(m activation.Member) memberItem {
	return memberItem{Audience: m.Audience, ProfileID: m.ProfileID, Since: m.Since.UTC(), UserID: m.UserID,
		Emails: m.Emails, Phones: m.Phones, Marketing: m.Marketing}
}

// add puts a member write into a transaction.
func (t *MemberTable) add(tx *dynamo.WriteTx, w activation.Write) *dynamo.WriteTx {
	if w.Delete {
		return tx.Delete(t.table.Delete("audienceId", w.Member.Audience).Range("profileId", w.Member.ProfileID))
	}
	return tx.Put(t.table.Put(newMemberItem(w.Member)))
}

// MaxMembersPage bounds a page of Members.
const MaxMembersPage = 1000

// ErrBadCursor is Members' error for a cursor it did not make.
var ErrBadCursor = errors.New("not a members cursor")

// cursorPrefix versions the cursor's text.
const cursorPrefix = "m1:"

// Members reads a page of the members of an audience, by profile id, after the cursor (""
// from the start), at most limit (1 to MaxMembersPage) of them, and returns the cursor of the
// next page ("" when this one is the last). Reads are strongly consistent. A member who stays in
// the audience while the pages are read is on exactly one page; one who enters or leaves
// meanwhile is on at most one.
func (t *MemberTable) Members(ctx context.Context, audienceID, cursor string, limit int) ([]activation.Member, string, error) {
	if limit < 1 || limit > MaxMembersPage {
		return nil, "", fmt.Errorf("members page of %d: want 1 to %d", limit, MaxMembersPage)
	}
	q := t.table.Get("audienceId", audienceID).Consistent(true).Limit(limit + 1)
	if cursor != "" {
		after, err := parseCursor(cursor)
		if err != nil {
			return nil, "", err
		}
		q = q.Range("profileId", dynamo.Greater, after)
	}
	var items []memberItem
	if err := q.All(ctx, &items); err != nil && !errors.Is(err, dynamo.ErrNotFound) {
		return nil, "", fmt.Errorf("read members of %s: %w", audienceID, err)
	}
	next := ""
	if len(items) > limit {
		items = items[:limit]
		next = membersCursor(items[limit-1].ProfileID)
	}
	out := make([]activation.Member, len(items))
	for i, it := range items {
		out[i] = it.member()
	}
	return out, next, nil
}

func membersCursor(after string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(cursorPrefix + after))
}

func parseCursor(c string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	after, ok := strings.CutPrefix(string(b), cursorPrefix)
	if err != nil || !ok || after == "" {
		return "", ErrBadCursor
	}
	return after, nil
}

// EachMember calls fn with every item of the index, in no given order, until fn returns an
// error, which it returns. Meant for checks on a store at rest.
func (t *MemberTable) EachMember(ctx context.Context, fn func(activation.Member) error) error {
	iter := t.table.Scan().Consistent(true).Iter()
	var it memberItem
	for iter.Next(ctx, &it) {
		if err := fn(it.member()); err != nil {
			return err
		}
		it = memberItem{}
	}
	if err := iter.Err(); err != nil {
		return fmt.Errorf("scan members: %w", err)
	}
	return nil
}

// Index reads the whole index (activation.Index), for checks at rest.
func (t *MemberTable) Index(ctx context.Context) (activation.Index, error) {
	out := activation.Index{}
	err := t.EachMember(ctx, func(m activation.Member) error {
		if out[m.Audience] == nil {
			out[m.Audience] = map[string]activation.Member{}
		}
		out[m.Audience][m.ProfileID] = m
		return nil
	})
	return out, err
}

// pending is what a profile item holds of an unfinished split: the audiences whose items may be
// wrong, and the count of split transactions, which each moves on.
type pending struct {
	Version  int      `dynamo:"version"`
	Audience []string `dynamo:"pendingMembers,set"`
	Seq      int      `dynamo:"pendingSeq"`
	Exists   string   `dynamo:"profileId"`
}

// pendingOf reads the version and the unfinished split of profile id, consistently.
func (t *ProfileTable) pendingOf(ctx context.Context, id string) (pending, error) {
	var p pending
	err := t.table.Get("profileId", id).Project("profileId", "version", "pendingMembers", "pendingSeq").Consistent(true).One(ctx, &p)
	if errors.Is(err, dynamo.ErrNotFound) {
		return pending{}, nil
	}
	if err != nil {
		return pending{}, fmt.Errorf("get profile %s's pending members: %w", id, err)
	}
	return p, nil
}

// ifSeq is the condition that no split moved on since seq was read.
func ifSeq(seq int) (string, []any) {
	if seq == 0 {
		return "attribute_not_exists('pendingSeq')", nil
	}
	return "'pendingSeq' = ?", []any{seq}
}

// commitMembers commits c with the member writes it calls for. It returns handled false when
// the index is not kept or c changes no member item, for Commit to write c as before.
func (s *Store) commitMembers(ctx context.Context, c recording.Change) (handled bool, err error) {
	if s.members == nil {
		return false, nil
	}
	writes := make([][]activation.Write, len(c.Puts))
	n := 0
	for i, p := range c.Puts {
		writes[i] = activation.Changes(p.Base, p.Next)
		n += len(writes[i])
	}
	if n == 0 {
		return false, nil
	}
	if len(c.Puts)+len(c.Moves)+n <= maxTxActions {
		tx := s.db.WriteTx().Idempotent(true)
		for _, p := range c.Puts {
			tx = tx.Update(s.ProfileTable.put(p.Base, p.Next).If("attribute_not_exists('pendingMembers')"))
		}
		for i := range c.Puts {
			for _, w := range writes[i] {
				tx = s.members.add(tx, w)
			}
		}
		tx, err = s.moves(tx, c.Moves)
		if err != nil {
			return true, err
		}
		err = writeErr(tx.Run(ctx), "commit")
		if errors.Is(err, recording.ErrConflict) {
			return true, s.afterConflict(ctx, c, err)
		}
		return true, err
	}
	return true, s.splitCommit(ctx, c)
}

// moves adds c's moves to a transaction.
func (s *Store) moves(tx *dynamo.WriteTx, moves []recording.Move) (*dynamo.WriteTx, error) {
	for _, m := range moves {
		if err := s.IdentityTable.configured(); err != nil {
			return tx, err
		}
		tx = tx.Update(s.IdentityTable.move(m))
	}
	return tx, nil
}

// afterConflict decides what a Commit refused on its condition means: a profile still at its
// Put's version but holding pendingMembers (a split cut off) is written by reconciling them
// (splitCommit); anything else is the conflict it was.
func (s *Store) afterConflict(ctx context.Context, c recording.Change, conflict error) error {
	if s.members == nil {
		return conflict
	}
	for _, p := range c.Puts {
		st, err := s.ProfileTable.pendingOf(ctx, p.Base.Profile.ID)
		if err != nil {
			return err
		}
		if st.Version == p.Base.Version && len(st.Audience) > 0 { // at version 0: a new profile's stub
			return s.splitCommit(ctx, c)
		}
	}
	return conflict
}

// splitCommit commits c in several transactions (see the package's members index above): the
// member writes that do not fit in the last transaction go first, each batch marking its
// audiences pending on its profile, and the last writes the profiles, the moves and the rest,
// removing what is pending. Each Put also reconciles what its profile had pending.
func (s *Store) splitCommit(ctx context.Context, c recording.Change) error {
	type plan struct {
		seq    int
		writes []activation.Write
	}
	plans := make([]plan, len(c.Puts))
	total := 0
	for i, p := range c.Puts {
		st, err := s.ProfileTable.pendingOf(ctx, p.Base.Profile.ID)
		if err != nil {
			return err
		}
		if st.Version != p.Base.Version {
			return fmt.Errorf("put profile %s at version %d: stored at %d: %w", p.Base.Profile.ID, p.Base.Version, st.Version, recording.ErrConflict)
		}
		byAudience := map[string]activation.Write{}
		for _, w := range activation.Changes(p.Base, p.Next) {
			byAudience[w.Member.Audience] = w
		}
		for _, w := range activation.Reconcile(p.Next, st.Audience) {
			byAudience[w.Member.Audience] = w
		}
		ws := make([]activation.Write, 0, len(byAudience))
		for _, a := range slices.Sorted(maps.Keys(byAudience)) {
			ws = append(ws, byAudience[a])
		}
		plans[i] = plan{seq: st.Seq, writes: ws}
		total += len(ws)
	}
	room := maxTxActions - len(c.Puts) - len(c.Moves)
	if room < 0 {
		return fmt.Errorf("commit %d puts and %d moves: more than a transaction takes: %w", len(c.Puts), len(c.Moves), recording.ErrRejected)
	}
	// The writes beyond the last transaction's room go first, 99 at a time with their marker.
	last := make([][]activation.Write, len(c.Puts))
	for i := range plans {
		ws := plans[i].writes
		for total > room && len(ws) > 0 {
			k := min(len(ws), maxTxActions-1)
			if err := s.pendingBatch(ctx, c.Puts[i].Base, plans[i].seq, ws[:k]); err != nil {
				return err
			}
			ws, total = ws[k:], total-k
			plans[i].seq++
		}
		last[i] = ws
	}
	tx := s.db.WriteTx().Idempotent(true)
	for i, p := range c.Puts {
		cond, args := ifSeq(plans[i].seq)
		u := ifAtOrStub(s.ProfileTable.update(p.Base, p.Next), p.Base.Version).Remove("pendingMembers", "pendingSeq").If(cond, args...)
		tx = tx.Update(u)
		for _, w := range last[i] {
			tx = s.members.add(tx, w)
		}
	}
	tx, err := s.moves(tx, c.Moves)
	if err != nil {
		return err
	}
	return writeErr(tx.Run(ctx), "commit")
}

// pendingBatch writes a batch of member items of base's profile ahead of its Put, marking their
// audiences pending, only if the profile is still at base's version and no split moved on since
// seq.
func (s *Store) pendingBatch(ctx context.Context, base recording.Record, seq int, batch []activation.Write) error {
	ids := make([]string, len(batch))
	for i, w := range batch {
		ids[i] = w.Member.Audience
	}
	cond, args := ifSeq(seq)
	u := ifAtOrStub(s.ProfileTable.table.Update("profileId", base.Profile.ID).AddStringsToSet("pendingMembers", ids...).Set("pendingSeq", seq+1).
		If(cond, args...), base.Version)
	tx := s.db.WriteTx().Idempotent(true).Update(u)
	for _, w := range batch {
		tx = s.members.add(tx, w)
	}
	return writeErr(tx.Run(ctx), "write members ahead of the profile")
}

// buryMembers buries profile id and removes its member items, those of its memberships and any
// pending, all at once (split as a Put is, when they are many). It reads the profile first, and
// writes only if nothing changed since (retrying otherwise), so that an item written meanwhile is
// not left behind.
func (s *Store) buryMembers(ctx context.Context, id string, erasedAt time.Time, done recording.Progress) error {
	for attempt := 0; ; attempt++ {
		var raw map[string]types.AttributeValue
		err := s.ProfileTable.table.Get("profileId", id).Consistent(true).One(ctx, &raw)
		if err != nil && !errors.Is(err, dynamo.ErrNotFound) {
			return fmt.Errorf("bury profile %s: %w", id, err)
		}
		var it profileItem
		var st pending
		if raw != nil {
			if err := dynamo.UnmarshalItem(raw, &it); err != nil {
				return fmt.Errorf("read profile %s: %w", id, err)
			}
			if err := dynamo.UnmarshalItem(raw, &st); err != nil {
				return fmt.Errorf("read profile %s: %w", id, err)
			}
		}
		var ids []string
		for _, m := range it.Audiences {
			ids = append(ids, m.Audience)
		}
		ids = slices.Compact(slices.Sorted(slices.Values(append(ids, st.Audience...))))
		err = s.buryWith(ctx, id, it.Version, st.Seq, ids, profileTombstone{ProfileID: id, ErasedAt: erasedAt.UTC(), Erasure: newProgressItem(done)})
		if !errors.Is(err, recording.ErrConflict) || attempt == 20 {
			return err
		}
	}
}

// buryWith writes the tombstone and removes the member items of ids, if the item is still at
// version and seq.
func (s *Store) buryWith(ctx context.Context, id string, version, seq int, ids []string, tomb profileTombstone) error {
	writes := make([]activation.Write, len(ids))
	for i, a := range ids {
		writes[i] = activation.Write{Member: activation.Member{Audience: a, ProfileID: id}, Delete: true}
	}
	base := recording.Record{Version: version}
	base.Profile.ID = id
	for len(writes) > maxTxActions-1 {
		if version == 0 {
			break // a tombstone or nothing: no memberships, and pending only with a version
		}
		if err := s.pendingBatch(ctx, base, seq, writes[:maxTxActions-1]); err != nil {
			return err
		}
		writes, seq = writes[maxTxActions-1:], seq+1
	}
	put := s.ProfileTable.table.Put(tomb)
	if version > 0 {
		put = put.If("'version' = ?", version)
	} else {
		put = put.If("attribute_not_exists('version')")
	}
	cond, args := ifSeq(seq)
	put = put.If(cond, args...)
	if len(writes) == 0 {
		return writeErr(put.Run(ctx), "bury profile "+id)
	}
	tx := s.db.WriteTx().Idempotent(true).Put(put)
	for _, w := range writes {
		tx = s.members.add(tx, w)
	}
	return writeErr(tx.Run(ctx), "bury profile "+id)
}

// Bury implements recording.Profiles: with the members index kept, the person's member items go
// with the record (buryMembers).
func (s *Store) Bury(ctx context.Context, id string, erasedAt time.Time, done recording.Progress) error {
	if s.members == nil {
		return s.ProfileTable.Bury(ctx, id, erasedAt, done)
	}
	return s.buryMembers(ctx, id, erasedAt, done)
}

// Members reads a page of an audience's members (MemberTable.Members); ErrNoIndex when the store
// keeps no members index.
func (s *Store) Members(ctx context.Context, audienceID, cursor string, limit int) ([]activation.Member, string, error) {
	if s.members == nil {
		return nil, "", ErrNoIndex
	}
	return s.members.Members(ctx, audienceID, cursor, limit)
}

// MemberIndex reads the whole members index, for checks at rest; ErrNoIndex without one.
func (s *Store) MemberIndex(ctx context.Context) (activation.Index, error) {
	if s.members == nil {
		return nil, ErrNoIndex
	}
	return s.members.Index(ctx)
}

// ErrNoIndex is the error of a members read on a store made without the AudienceMembers table.
var ErrNoIndex = errors.New("no members index: the store was made without the AudienceMembers table")
