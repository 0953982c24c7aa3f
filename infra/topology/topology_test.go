package topology

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestDefaultIsValid(t *testing.T) {
	if err := Default().Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestEnvVar(t *testing.T) {
	top := Default()
	for resource, want := range map[string]string{
		ProfileTable:       "DCRM_PROFILES_TABLE",
		EventStream:        "DCRM_BEACONS_STREAM",
		AlertQueue:         "DCRM_ALERTS_QUEUE_URL",
		FailedQueue:        "DCRM_FAILED_EVENTS_QUEUE_URL",
		ProfileUpdateQueue: "DCRM_PROFILE_UPDATES_QUEUE_URL",
	} {
		if got := top.EnvVar(resource); got != want {
			t.Errorf("EnvVar(%s) = %s, want %s", resource, got, want)
		}
	}
}

func TestProfileUpdates(t *testing.T) {
	top := Default()
	var q Queue
	for _, x := range top.Queues {
		if x.Name == ProfileUpdateQueue {
			q = x
		}
	}
	if q.DeadLetterAfter != 5 {
		t.Errorf("profile-updates queue = %+v, want a dead-letter queue after 5 receives", q)
	}
	for _, name := range []string{"stitch", "profiles"} {
		f, _ := top.Function(name)
		found := false
		for _, u := range f.Uses {
			found = found || (u.Resource == ProfileUpdateQueue && u.Access == Write)
		}
		if !found {
			t.Errorf("%s may not write to the profile-updates queue", name)
		}
	}
	found := false
	for _, r := range top.Routes {
		found = found || (r == Route{"PUT", "/v1/profiles/{profileId}/consent", "profiles", false})
	}
	if !found {
		t.Error("no private PUT /v1/profiles/{profileId}/consent route to profiles")
	}
}

func TestValidateRejectsDanglingReferences(t *testing.T) {
	top := Default()
	top.Routes = append(top.Routes, Route{"GET", "/x", "nope", true})
	if top.Validate() == nil {
		t.Fatal("route to an unknown function passed validation")
	}
	top = Default()
	top.Queues = append(top.Queues, Queue{Name: ProfileTable})
	if top.Validate() == nil {
		t.Fatal("a name declared twice passed validation")
	}
}

func TestValidateRejectsWhatIsNotDeclared(t *testing.T) {
	for name, change := range map[string]func(*Topology){
		"scan of a table not used": func(t *Topology) { t.Functions[0].Scans = []string{ProfileTable} },
		"scan of a queue":          func(t *Topology) { t.Functions[2].Scans = []string{AlertQueue} },
		"unknown async queue":      func(t *Topology) { t.Functions[2].Async = &AsyncInvoke{MaxAge: time.Hour, OnFailureQueue: "Nope"} },
		"unknown schedule DLQ":     func(t *Topology) { t.Schedules[0].DeadLetterQueue = ProfileTable },
		"unknown system log level": func(t *Topology) { t.Functions[1].SystemLogLevel = "ERROR" },
	} {
		top := Default()
		change(&top)
		if err := top.Validate(); err == nil {
			t.Errorf("%s: passed validation", name)
		}
	}
}

// Nothing fails without landing somewhere a person is told of: the stream mapping, the functions
// invoked asynchronously and the schedules all name a queue for what they give up on.
func TestFailuresHaveAQueue(t *testing.T) {
	top := Default()
	for _, m := range top.Mappings {
		if m.OnFailureQueue == "" || m.MaxRecordAge <= 0 || m.MaxRecordAge >= top.Streams[0].Retention {
			t.Errorf("mapping %+v: want an on-failure queue and a record age under the stream's retention", m)
		}
	}
	for _, name := range []string{"score", "triggers"} { // invoked by schedules, score by itself too
		if f, _ := top.Function(name); f.Async == nil || f.Async.OnFailureQueue != FailedQueue {
			t.Errorf("%s: asynchronous failures are not kept on %s", name, FailedQueue)
		}
	}
	for _, s := range top.Schedules {
		if s.DeadLetterQueue != FailedRunQueue || s.RetryAttempts == 0 {
			t.Errorf("schedule %s: want retries and the %s queue", s.Name, FailedRunQueue)
		}
	}
	for _, q := range top.Queues {
		if q.Name == FailedQueue && q.DeadLetterAfter == 0 {
			t.Errorf("%s has no dead-letter queue", FailedQueue)
		}
	}
}

func TestFromEnv(t *testing.T) {
	env := map[string]string{"DCRM_PROFILES_TABLE": "p-1", "DCRM_ALERTS_QUEUE_URL": "http://q"}
	got, err := Default().FromEnv(func(k string) string { return env[k] }, ProfileTable, AlertQueue)
	if err != nil || got[ProfileTable] != "p-1" || got[AlertQueue] != "http://q" {
		t.Fatalf("FromEnv = %v, %v", got, err)
	}
	if _, err := Default().FromEnv(func(k string) string { return env[k] }, KeyTable); err == nil || !strings.Contains(err.Error(), "DCRM_KEYS_TABLE") {
		t.Fatalf("missing variable: err = %v, want one naming DCRM_KEYS_TABLE", err)
	}
}

func TestDurationSetting(t *testing.T) {
	env := map[string]string{"SET": "48h", "BAD": "soon", "NEG": "-1h"}
	get := func(k string) string { return env[k] }
	if d, err := DurationSetting(get, "SET", 0); err != nil || d != 48*time.Hour {
		t.Errorf("SET = %v, %v", d, err)
	}
	if d, err := DurationSetting(get, "UNSET", time.Hour); err != nil || d != time.Hour {
		t.Errorf("UNSET with fallback = %v, %v", d, err)
	}
	for _, name := range []string{"UNSET", "BAD", "NEG"} {
		if _, err := DurationSetting(get, name, 0); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
}

func TestTable(t *testing.T) {
	if tb, ok := Default().Table(KeyTable); !ok || tb.PartitionKey != "keyHash" {
		t.Errorf("Table(%s) = %+v, %v", KeyTable, tb, ok)
	}
	if _, ok := Default().Table(AlertQueue); ok {
		t.Error("a queue was returned as a table")
	}
}

func TestTriggers(t *testing.T) {
	top := Default()
	profiles, _ := top.Table(ProfileTable)
	want := Index{Name: DueIndex, PartitionKey: "dueShard", SortKey: "dueAt", Projection: ProjectKeysOnly}
	if len(profiles.Indexes) != 1 || profiles.Indexes[0].Name != want.Name || profiles.Indexes[0].PartitionKey != want.PartitionKey ||
		profiles.Indexes[0].SortKey != want.SortKey || profiles.Indexes[0].Projection != want.Projection {
		t.Errorf("profile indexes = %+v, want %+v", profiles.Indexes, want)
	}
	f, ok := top.Function("triggers")
	if !ok {
		t.Fatal("no triggers function")
	}
	uses := map[string]Access{}
	for _, u := range f.Uses {
		uses[u.Resource] = u.Access
	}
	if uses[ProfileTable] != ReadWrite || uses[TriggerQueue] != Write {
		t.Errorf("triggers uses %v, want read-write on %s and write on %s", uses, ProfileTable, TriggerQueue)
	}
	var every time.Duration
	for _, s := range top.Schedules {
		if s.Function == "triggers" {
			every = s.Every
		}
	}
	if every != 5*time.Minute || f.Timeout >= every {
		t.Errorf("triggers run every %v with a timeout of %v; want every 5m, timeout shorter", every, f.Timeout)
	}
	if top.Kind(TriggerQueue) != "queue" || top.EnvVar(TriggerQueue) != "DCRM_TRIGGERS_QUEUE_URL" {
		t.Errorf("trigger queue: kind %q, env %s", top.Kind(TriggerQueue), top.EnvVar(TriggerQueue))
	}
}

func TestValidateRejectsBadIndexes(t *testing.T) {
	for name, ix := range map[string]Index{
		"no name":             {PartitionKey: "a", Projection: ProjectAll},
		"no partition key":    {Name: "x", Projection: ProjectAll},
		"no projection":       {Name: "x", PartitionKey: "a"},
		"include without any": {Name: "x", PartitionKey: "a", Projection: ProjectInclude},
		"keys with non-keys":  {Name: "x", PartitionKey: "a", Projection: ProjectKeysOnly, NonKeyAttributes: []string{"b"}},
	} {
		top := Default()
		top.Tables[0].Indexes = append(top.Tables[0].Indexes, ix)
		if top.Validate() == nil {
			t.Errorf("%s: passed validation", name)
		}
	}
	top := Default()
	top.Tables[0].Indexes = append(top.Tables[0].Indexes, top.Tables[0].Indexes[0])
	if top.Validate() == nil {
		t.Error("an index declared twice passed validation")
	}
	top = Default()
	top.Tables[1].Indexes = []Index{{Name: "byKeys", PartitionKey: "a", Projection: ProjectInclude, NonKeyAttributes: []string{"b"}}}
	if err := top.Validate(); err != nil {
		t.Errorf("an include index: %v", err)
	}
}

func TestBuckets(t *testing.T) {
	top := Default()
	for resource, want := range map[string]string{ImportBucket: "DCRM_IMPORT_BUCKET", ArchiveBucket: "DCRM_ARCHIVE_BUCKET"} {
		if got := top.EnvVar(resource); got != want {
			t.Errorf("EnvVar(%s) = %s, want %s", resource, got, want)
		}
		if k := top.Kind(resource); k != "bucket" {
			t.Errorf("Kind(%s) = %q, want bucket", resource, k)
		}
	}
	bad := Default()
	bad.Buckets = append(bad.Buckets, Bucket{Name: "Odd", Expire: []Expiry{{Prefix: "x/", After: 36 * time.Hour}}})
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "whole days") {
		t.Errorf("an expiry of a day and a half: %v", err)
	}
	bad = Default()
	bad.Buckets = append(bad.Buckets, Bucket{Name: ProfileTable})
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "declared twice") {
		t.Errorf("a bucket named like a table: %v", err)
	}
}

func TestNotifications(t *testing.T) {
	with := func(ns ...Notification) Topology {
		top := Default()
		top.Notifications = ns
		return top
	}
	ok := with(
		Notification{Bucket: ImportBucket, Prefix: "customers/", Function: "score"},
		Notification{Bucket: ImportBucket, Prefix: "orders/", Suffix: ".csv", Function: "score"},
		Notification{Bucket: ImportBucket, Prefix: "orders/", Suffix: ".jsonl", Function: "triggers"},
		Notification{Bucket: ArchiveBucket, Prefix: "customers/", Function: "score"},
	)
	if err := ok.Validate(); err != nil {
		t.Errorf("disjoint prefixes or suffixes, or other buckets: %v", err)
	}
	for name, top := range map[string]Topology{
		"unknown bucket":   with(Notification{Bucket: "Nope", Function: "stitch"}),
		"a table":          with(Notification{Bucket: ProfileTable, Function: "stitch"}),
		"unknown function": with(Notification{Bucket: ImportBucket, Function: "nope"}),
	} {
		if err := top.Validate(); err == nil || !strings.Contains(err.Error(), "unknown bucket or function") {
			t.Errorf("%s: %v", name, err)
		}
	}
	if err := with(Notification{Bucket: ImportBucket, Function: "stitch"}).Validate(); err == nil || !strings.Contains(err.Error(), "no on-failure queue") {
		t.Errorf("a function whose failures would go nowhere: %v", err)
	}
	for name, top := range map[string]Topology{
		"same prefix":          with(Notification{Bucket: ImportBucket, Prefix: "a/", Function: "triggers"}, Notification{Bucket: ImportBucket, Prefix: "a/", Function: "score"}),
		"nested prefix":        with(Notification{Bucket: ImportBucket, Prefix: "a/", Function: "triggers"}, Notification{Bucket: ImportBucket, Prefix: "a/b/", Suffix: ".csv", Function: "score"}),
		"whole bucket and any": with(Notification{Bucket: ImportBucket, Function: "triggers"}, Notification{Bucket: ImportBucket, Suffix: ".gz", Function: "score"}),
		"nested suffix":        with(Notification{Bucket: ImportBucket, Suffix: ".gz", Function: "triggers"}, Notification{Bucket: ImportBucket, Suffix: ".csv.gz", Function: "score"}),
	} {
		if err := top.Validate(); err == nil || !strings.Contains(err.Error(), "overlap") {
			t.Errorf("%s: %v", name, err)
		}
	}

	n := Notification{Bucket: ImportBucket, Prefix: "orders/", Suffix: ".csv"}
	for key, want := range map[string]bool{"orders/2026-12-01.csv": true, "orders/a b+c é.csv": true, "orders/x.csv.gz": false, "customers/x.csv": false, "Orders/x.csv": false} {
		if got := n.Matches(key); got != want {
			t.Errorf("Matches(%q) = %v, want %v", key, got, want)
		}
	}
}

// An erasure reaches the archive: the profile API may leave its request in the archive bucket
// (write only: it neither reads nor lists it), and a daily run of the archive function passes the
// requests, with its failures kept like every schedule's. The archive function may list, read and
// delete the bucket's files, which the pass rewrites; no lifecycle rule expires the requests.
func TestArchiveErasure(t *testing.T) {
	top := Default()
	profiles, _ := top.Function("profiles")
	if !slices.Contains(profiles.Uses, Use{ArchiveBucket, Write}) {
		t.Errorf("profiles uses %v, want %s (write)", profiles.Uses, ArchiveBucket)
	}
	archive, _ := top.Function("archive")
	if !slices.Contains(archive.Uses, Use{ArchiveBucket, ReadWrite}) {
		t.Errorf("archive uses %v, want %s (read and write)", archive.Uses, ArchiveBucket)
	}
	var runs []Schedule
	for _, s := range top.Schedules {
		if s.Name == ArchiveErasureSchedule {
			runs = append(runs, s)
		}
	}
	want := Schedule{Name: ArchiveErasureSchedule, Function: "archive", Every: 24 * time.Hour, RetryAttempts: 3, DeadLetterQueue: FailedRunQueue}
	if len(runs) != 1 || runs[0] != want {
		t.Errorf("erasure schedules %+v, want %+v", runs, want)
	}
	for _, b := range top.Buckets {
		for _, e := range b.Expire {
			if b.Name == ArchiveBucket && (e.Prefix == "" || strings.HasPrefix("erasures/", e.Prefix)) {
				t.Errorf("the erasure requests expire after %v: they are the proof of what was removed", e.After)
			}
		}
	}
}
