// Package topology is the one description of what dcrm deploys: its stream, tables, queues and
// buckets, its functions and the resources each may use, the HTTP routes, the stream mapping, the
// buckets' notifications and the schedules.
// The CDK app (infra) and the local host (scripts/devstack) both read it, so the cloud stack and the
// local stack cannot drift apart. Pure data; no AWS imports.
package topology

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Access is what a function may do with a resource; the CDK app turns it into a grant.
type Access string

const (
	Read      Access = "read"
	Write     Access = "write"
	ReadWrite Access = "readwrite"
	// Attributes, of a queue only, reads its attributes (the depths: GetQueueAttributes) and those of
	// its dead-letter queue, whose URL the function finds under DeadLetterEnvVar; it neither sends
	// nor receives.
	Attributes Access = "attributes"
)

// Table is a DynamoDB table with a string partition key (and optional string sort key).
type Table struct {
	Name         string // logical name, e.g. "Profiles"
	PartitionKey string
	SortKey      string // empty when the table has none
	TTLAttribute string // empty when items never expire
	Indexes      []Index
}

// Index is a global secondary index of a table, with a string partition key and an optional string
// sort key. It is sparse: only items that carry its key attributes are in it, so an index over
// attributes that few items have costs storage and writes for those few only.
type Index struct {
	Name         string
	PartitionKey string
	SortKey      string     // empty when the index has none
	Projection   Projection // what the index holds beside the keys
	// NonKeyAttributes are the attributes a ProjectInclude projection copies into the index.
	NonKeyAttributes []string
}

// Projection is what a global secondary index copies from the table. Every index write costs
// write units by the size of the projected item, so the smaller the projection the cheaper.
type Projection string

const (
	ProjectKeysOnly Projection = "KEYS_ONLY" // the index and table keys only
	ProjectInclude  Projection = "INCLUDE"   // the keys and NonKeyAttributes
	ProjectAll      Projection = "ALL"       // the whole item
)

// Queue is an SQS queue. With a DeadLetterAfter > 0 it gets its own dead-letter queue that takes
// messages received that many times without being deleted.
type Queue struct {
	Name            string
	DeadLetterAfter int
}

// Stream is a Kinesis data stream.
type Stream struct {
	Name string
	// Shards provisions the stream with that many shards; 0 leaves it on demand, scaling with the
	// traffic (a deployment may provision it instead: infra/README.md, streamMode).
	Shards int
	// Retention is how long records stay readable: how long the stream mapping may be stopped or
	// behind before records are lost (24h to 8760h).
	Retention time.Duration
}

// DeliveryStream is a Data Firehose delivery stream (Direct PUT) that gathers the records put to
// it and writes them to Bucket as gzipped objects under Prefix + "YYYY/MM/DD/HH/" (UTC, by arrival,
// the names Firehose gives), one object per BufferInterval or BufferBytes, whichever comes first;
// what it cannot deliver goes under ErrorPrefix. Records are written as they were put, one after
// the other: a record ends its lines itself.
type DeliveryStream struct {
	Name           string
	Bucket         string
	Prefix         string
	ErrorPrefix    string
	BufferInterval time.Duration // 0 to 900 s
	BufferBytes    int           // 1 to 128 MiB
}

// Bucket is an S3 bucket: private, encrypted, reached over TLS only. Its physical name is
// generated in AWS and <prefix>-<logical name, lower case> locally.
type Bucket struct {
	Name string
	// Expire deletes the objects under a prefix some time after they were written.
	Expire []Expiry
}

// Expiry is a lifecycle rule: objects under Prefix ("" for all) are deleted After their creation
// (whole days; S3 counts from midnight UTC after the object was written).
type Expiry struct {
	Prefix string
	After  time.Duration
}

// Notification invokes a function, asynchronously, for each object created in a bucket (by a
// put, a copy, a browser's POST or a completed multipart upload) whose key starts with Prefix and
// ends with Suffix (either may be empty). The function receives S3's event (aws-lambda-go's
// events.S3Event, the key URL-encoded); a failed invocation is retried and then recorded as the
// function's Async says. Two notifications of one bucket may not overlap, as S3 refuses them.
type Notification struct {
	Bucket   string
	Prefix   string
	Suffix   string
	Function string
}

// Secret is a generated secret string: in AWS a Secrets Manager secret the stack creates (its ARN
// reaches the function as EnvVar(secret)); locally the value itself, under the same name without
// the _SECRET suffix (SecretValueEnvVar).
type Secret struct {
	Name string
}

// Use grants a function access to one resource and puts its name (or URL) into the function's
// environment under EnvVar(resource).
type Use struct {
	Resource string // logical name of a Table, Queue, Stream, Bucket or Secret
	Access   Access
}

// Function is one Lambda: a bootstrap binary built from functions/<Name>.
type Function struct {
	Name     string
	Memory   int           // MB
	Timeout  time.Duration // Lambda timeout
	Uses     []Use
	Settings map[string]string // static environment, same locally and in AWS
	// FanOut lets the function invoke itself asynchronously (Lambda Invoke API, its own name from
	// AWS_LAMBDA_FUNCTION_NAME), one invocation per part of its work; the CDK app grants it
	// lambda:InvokeFunction on itself.
	FanOut bool
	// Async is how Lambda treats the function's asynchronous invocations (its schedules, its
	// fan-out); nil leaves Lambda's defaults.
	Async *AsyncInvoke
	// Scans names the tables the function reads whole (DynamoDB Scan); no other function is
	// granted Scan on any table.
	Scans []string
	// ReservedConcurrency is the number of concurrent executions set aside for the function, which
	// is also its cap; 0 reserves none. A deployment may change or drop it (reservedConcurrency).
	ReservedConcurrency int
	// SystemLogLevel is the level of Lambda's own log lines (SystemLogLevels): "" is INFO, which
	// writes START, END and REPORT for every invocation; WARN keeps only the platform's warnings and
	// errors (timeouts, crashes), for a function invoked per request, where those lines would be
	// most of its log bytes (CloudWatch Logs bills each one).
	SystemLogLevel string
}

// SystemLogLevels are the levels Lambda filters its own log lines at.
var SystemLogLevels = []string{"DEBUG", "INFO", "WARN"}

// AsyncInvoke configures asynchronous invocations: how long an invocation may wait, how often a
// failed one is retried, and the queue that then receives Lambda's on-failure record (the request,
// the response or error, the condition), so a failure is seen rather than dropped.
type AsyncInvoke struct {
	MaxAge         time.Duration
	Retries        int
	OnFailureQueue string
}

// Route is an HTTP API route (payload format 2.0) served by a function.
type Route struct {
	Method   string
	Path     string // API Gateway route syntax, e.g. /v1/profiles/{profileId}
	Function string
	// Public routes are called by browsers and SDKs with a write key; the function authorises them.
	// Non-public routes carry a profile-API credential.
	Public bool
}

// StreamMapping is a Kinesis event source mapping.
type StreamMapping struct {
	Stream                  string
	Function                string
	BatchSize               int
	MaxBatchingWindow       time.Duration
	BisectOnError           bool
	RetryAttempts           int
	ReportBatchItemFailures bool
	OnFailureQueue          string // logical queue name for records that exhaust their retries
	// MaxRecordAge is how old a record may get before it is given up (to the on-failure queue)
	// rather than retried; under the stream's retention, so a given-up record can still be replayed.
	MaxRecordAge time.Duration
}

// Schedule runs a function on a rate. Each run invokes the function with a schedule.Event (package
// shared/schedule): the schedule's name and the run's time.
type Schedule struct {
	Name     string
	Function string
	Every    time.Duration
	// RetryAttempts is how often Scheduler retries a run the function could not take (throttled,
	// unavailable); DeadLetterQueue receives a run it gave up on.
	RetryAttempts   int
	DeadLetterQueue string
}

// Topology is the whole deployment.
type Topology struct {
	Streams []Stream
	// DeliveryStreams are the Data Firehose delivery streams into buckets.
	DeliveryStreams []DeliveryStream
	Tables          []Table
	Queues          []Queue
	Buckets         []Bucket
	Secrets         []Secret
	Functions       []Function
	Routes          []Route
	Mappings        []StreamMapping
	// Notifications are the buckets' object-created notifications to functions.
	Notifications []Notification
	Schedules     []Schedule
}

// Logical names of the resources, for code that needs one in particular.
const (
	EventStream   = "Beacons"
	ProfileTable  = "Profiles"
	IdentityTable = "Identities"
	KeyTable      = "Keys"
	// TouchpointTable holds each profile's event history in compressed chunks, keyed by profile
	// id and "<UTC day>~<hash>" (written before chunks: one item per event, keyed by
	// "<fixed-width RFC 3339 time with nanoseconds>#<messageId>"), so it sorts by day.
	TouchpointTable = "Touchpoints"
	AlertQueue      = "Alerts"
	FailedQueue     = "FailedEvents"
	// FailedRunQueue receives the scheduled runs EventBridge Scheduler could not deliver.
	FailedRunQueue = "FailedRuns"
	// ProfileUpdateQueue carries every profile change (profile.updated, profile.merged,
	// profile.split, profile.erased, profile.consent) to the CRM, which takes them back into its
	// own view.
	ProfileUpdateQueue = "ProfileUpdates"
	// TriggerQueue carries the triggers that fired (trigger.fired: abandoned basket, browse and
	// form, returning prospect and lapsed customer) to the tools that send the messages.
	TriggerQueue = "Triggers"
	// AudienceQueue carries every change of audience membership (audience.entered and
	// audience.exited, with the identifiers destinations match people by) to the tools that
	// activate audiences.
	AudienceQueue = "AudienceChanges"
	// DueIndex is the Profiles table's sparse index of profiles by the time a trigger falls due
	// (partition dueShard, sort dueAt): the triggers schedule reads what is due without a scan.
	DueIndex = "due"
	// ModelTable holds the models fitted on a sample of the profiles (RFM and engagement cut
	// points, purchase models, co-occurrence), as versioned JSON documents keyed by name.
	ModelTable = "Models"
	// AudienceTable holds the audience definitions (shared/audience's language), one item per
	// audience keyed by its id, and the set's version item that every change moves in the same
	// transaction (shared/audiencestore), so that the set stays valid under concurrent writes.
	AudienceTable = "Audiences"
	// AudienceMemberTable is the members index: one item per person per audience (partition key
	// audienceId, sort key profileId), with what a destination needs of the member (since, userId,
	// hashed email and phone, marketing consent), kept by profilestore in the transaction that
	// writes the profile's memberships (shared/profilestore/members.go). The members route and
	// the exports read it, never the profiles.
	AudienceMemberTable = "AudienceMembers"
	// ExportsBucket holds the audience exports (functions/profiles: members as CSV and JSON Lines,
	// customer-match files), under ExportsPrefix; they hold personal data (hashed identifiers),
	// so they expire after ExportRetention.
	ExportsBucket = "Exports"
	// ImportBucket takes the files a team drops for bulk import, under a prefix per kind of file
	// (customers/, orders/ …: the importing package's kinds). Files are deleted after
	// ImportRetention: they hold personal data, and what was imported is on the profiles.
	ImportBucket = "Import"
	// ArchiveBucket holds the event archive and the snapshots of profiles and identifiers, which
	// analysts query (Athena in AWS, dcrm sql locally); Athena's query results go under
	// AthenaResultsPrefix and expire after AthenaResultsRetention. The erasure requests the profile
	// API leaves for the archive function are kept under erasures/ (shared/archive's erasure.go),
	// with no expiry: once done, they are the proof of what was removed.
	ArchiveBucket = "Archive"
	// ReportsBucket holds the attribution and journey reports (aggregates, nothing of a person) and
	// the goals they are made for: a bucket of its own, so that the profile API, which serves
	// them, is granted no read of the archive's events.
	ReportsBucket = "Reports"
	// ArchiveFeed is the delivery stream through which stitch hands every event it recorded, as an
	// archive row with its profile id (archive.Event, one JSON line each), to the archive bucket's
	// ArchiveIncomingPrefix; the archive function turns each object delivered there into the
	// archive's Parquet files.
	ArchiveFeed = "ArchiveFeed"
	// HealthTable holds the pipeline's status items (package shared/health): each shard's stream
	// lag, each schedule's last run, the failed events by reason per UTC day, keyed by kind and key
	// (shared/healthstore has what writes each, and its cost: a handful of writes a minute).
	HealthTable = "Health"
	// ActivityTable is the log people read in the console (shared/activity): the alerts and
	// triggers sent (what fired, for whom, why: written by the senders, score and triggers, as they
	// send) and the audit log of the changes made through the profile API (written by profiles),
	// partitioned by kind and UTC day ("log": "<kind>#<YYYY-MM-DD>") and sorted by time and message
	// id ("at": "<time>#<messageId>"), so that a day's page of a kind is one query; items expire
	// by "expiresAt", activity.Retention (90 days) after they were written.
	ActivityTable = "Activity"
	// ActivityProfileIndex is the Activity table's sparse index of entries by the profile they
	// name ("profileId", keys only), by which an erasure finds what the log holds of the person.
	ActivityProfileIndex = "profile"
	// HashKeySecret is the key of the keyed hashes (package shared/hashkey): erased identifiers'
	// tombstones and deduplication scopes are stored under it.
	HashKeySecret = "HashKey"
)

// Retention of what the buckets only hold for a while, and where Athena writes its results.
const (
	ImportRetention        = 30 * 24 * time.Hour
	AthenaResultsPrefix    = "athena-results/"
	AthenaResultsRetention = 30 * 24 * time.Hour
	// ArchiveIncomingPrefix is where ArchiveFeed delivers; the archive function reads what lands
	// there into the archive's files, after which the objects are only kept, for
	// ArchiveIncomingRetention, to be read again should that be needed. What Firehose could not
	// deliver goes under ArchiveFeedErrorPrefix.
	ArchiveIncomingPrefix    = "incoming/"
	ArchiveIncomingRetention = 7 * 24 * time.Hour
	ArchiveFeedErrorPrefix   = "incoming-errors/"
	// SnapshotRetention is how long the daily snapshots of profiles, identifiers and merges are
	// kept in the archive bucket.
	SnapshotRetention = 90 * 24 * time.Hour
	// ReportsPrefix is where the reports function keeps the attribution and journey reports in
	// ReportsBucket, one folder per period (functions/reports/README.md), served by the profile
	// API's report routes; they are kept for ReportRetention (a year and its month to compare).
	ReportsPrefix   = "reports/"
	ReportRetention = 400 * 24 * time.Hour
	// GoalsKey is ReportsBucket's object holding the conversion goals and funnel the reports use
	// (shared/journey's configuration, JSON); without it, journey.DefaultConfig.
	GoalsKey = "config/goals.json"
	// ExportsPrefix is where the audience exports are written in ExportsBucket, one folder per
	// export (exports/<audienceId>/<exportId>/); ExportRetention is how long they are kept.
	ExportsPrefix   = "exports/"
	ExportRetention = 7 * 24 * time.Hour
)

// Schedule names, which the scheduled functions check the runs they receive against.
const (
	// ScoreSchedule scores every profile (function score), hourly.
	ScoreSchedule = "score"
	// FitSchedule fits the scoring models (function score), daily.
	FitSchedule = "fit"
	// TriggersSchedule fires what is due (function triggers), every 5 minutes.
	TriggersSchedule = "triggers"
	// SnapshotSchedule writes the daily snapshot of profiles, identifiers and merges to the archive
	// bucket (function snapshot).
	SnapshotSchedule = "snapshot"
	// ArchiveErasureSchedule removes the people erased since the last run from the archive bucket's
	// files (function archive), daily.
	ArchiveErasureSchedule = "archive-erasure"
	// ReportsSchedule computes the attribution and journey reports of the last days (function
	// reports), daily.
	ReportsSchedule = "reports"
)

// Settings understood by the functions. Values are strings because they travel as environment.
const (
	// Score settings (see functions/score): the CLV horizon in weeks, its annual discount rate and
	// margin (1 counts revenue); the lapse risk that alerts, the value a customer must exceed to be
	// alerted on and the cooldown between two alerts (Go duration); the buyers (and visitors) the
	// daily fit samples; the profiles one invocation of an hourly run scores; how often a score
	// that only drifted with the clock is rewritten (Go duration, whole hours).
	SettingCLVWeeks       = "DCRM_CLV_WEEKS"
	SettingCLVDiscount    = "DCRM_CLV_DISCOUNT_RATE"
	SettingCLVMargin      = "DCRM_CLV_MARGIN"
	SettingLapseThreshold = "DCRM_LAPSE_THRESHOLD"
	SettingLapseMinValue  = "DCRM_LAPSE_MIN_VALUE"
	SettingLapseCooldown  = "DCRM_LAPSE_COOLDOWN"
	SettingFitSample      = "DCRM_FIT_SAMPLE"
	SettingScorePart      = "DCRM_SCORE_PART"
	SettingScoreRefresh   = "DCRM_SCORE_REFRESH"
	// SettingErasureSettle is how old (a Go duration) an erasure request must be before the archive's
	// daily pass takes it: time for what read the person before the request to reach the archive.
	SettingErasureSettle = "DCRM_ERASURE_SETTLE"
	// SettingSnapshotPart is how many profiles one invocation of the daily snapshot reads (a
	// part: a scan segment of the tables; functions/snapshot/README.md has the arithmetic).
	SettingSnapshotPart = "DCRM_SNAPSHOT_PART"
	// SettingReportDays is how many days a scheduled report covers: the days up to the one before
	// the run's.
	SettingReportDays = "DCRM_REPORT_DAYS"
	// SettingTouchpointTTL is a Go duration: how long after it happened an event stays in a profile's
	// history (purchases are kept).
	SettingTouchpointTTL = "DCRM_TOUCHPOINT_TTL"
	// SettingAuthIssuer and SettingAuthClientID are the console's sign-in: the issuer URL of the
	// user pool whose tokens the function accepts and the console's app client id
	// (shared/consoleauth). They differ per deployment, so the topology lists them empty on the
	// functions that need them and the deployment fills them in: the CDK app from its Cognito user
	// pool, the local host from its issuer (scripts/devstack/cognito).
	SettingAuthIssuer   = "DCRM_AUTH_ISSUER"
	SettingAuthClientID = "DCRM_AUTH_CLIENT_ID"
)

// Default is dcrm's topology.
func Default() Topology {
	return Topology{
		Streams: []Stream{{Name: EventStream, Retention: 7 * 24 * time.Hour}},
		Tables: []Table{
			{Name: ProfileTable, PartitionKey: "profileId", Indexes: []Index{
				{Name: DueIndex, PartitionKey: "dueShard", SortKey: "dueAt", Projection: ProjectKeysOnly},
			}},
			{Name: IdentityTable, PartitionKey: "identifier"},
			{Name: KeyTable, PartitionKey: "keyHash"},
			{Name: TouchpointTable, PartitionKey: "profileId", SortKey: "at", TTLAttribute: "expiresAt"},
			{Name: ModelTable, PartitionKey: "name"},
			{Name: AudienceTable, PartitionKey: "audienceId"},
			{Name: AudienceMemberTable, PartitionKey: "audienceId", SortKey: "profileId"},
			{Name: HealthTable, PartitionKey: "kind", SortKey: "key", TTLAttribute: "expiresAt"},
			{Name: ActivityTable, PartitionKey: "log", SortKey: "at", TTLAttribute: "expiresAt", Indexes: []Index{
				{Name: ActivityProfileIndex, PartitionKey: "profileId", Projection: ProjectKeysOnly},
			}},
		},
		Queues: []Queue{
			{Name: AlertQueue, DeadLetterAfter: 5},
			{Name: FailedQueue, DeadLetterAfter: 5},
			{Name: FailedRunQueue},
			{Name: ProfileUpdateQueue, DeadLetterAfter: 5},
			{Name: TriggerQueue, DeadLetterAfter: 5},
			{Name: AudienceQueue, DeadLetterAfter: 5},
		},
		Buckets: []Bucket{
			{Name: ImportBucket, Expire: []Expiry{{After: ImportRetention}}},
			{Name: ArchiveBucket, Expire: []Expiry{
				{Prefix: AthenaResultsPrefix, After: AthenaResultsRetention},
				{Prefix: ArchiveIncomingPrefix, After: ArchiveIncomingRetention},
				{Prefix: ArchiveFeedErrorPrefix, After: AthenaResultsRetention},
				// Daily snapshots: a query reads the latest; three months of them are kept for
				// comparisons (at 10 M profiles ~0.9 GB a day).
				{Prefix: "profiles/", After: SnapshotRetention},
				{Prefix: "identifiers/", After: SnapshotRetention},
				{Prefix: "merges/", After: SnapshotRetention},
			}},
			{Name: ReportsBucket, Expire: []Expiry{{Prefix: ReportsPrefix, After: ReportRetention}}},
			{Name: ExportsBucket, Expire: []Expiry{{After: ExportRetention}}},
		},
		// The feed's buffer: at 100 M events a month (~1 KB each as a JSON line) 15 minutes hold
		// some 35 MB, one object that becomes one Parquet file per day it spans
		// (functions/archive/README.md has the arithmetic).
		DeliveryStreams: []DeliveryStream{{
			Name: ArchiveFeed, Bucket: ArchiveBucket, Prefix: ArchiveIncomingPrefix, ErrorPrefix: ArchiveFeedErrorPrefix,
			BufferInterval: 900 * time.Second, BufferBytes: 128 << 20,
		}},
		Notifications: append(importNotifications(),
			Notification{Bucket: ArchiveBucket, Prefix: ArchiveIncomingPrefix, Function: "archive"}),
		Secrets: []Secret{{Name: HashKeySecret}},
		Functions: []Function{
			// collect's reserved concurrency caps it, so a flood cannot starve the rest of the account;
			// stitch's and profiles' guarantee them executions whatever else runs.
			// Its system log is at WARN: it runs once per request, and a REPORT line per request would
			// cost more than the request's own logs.
			{Name: "collect", Memory: 256, Timeout: 10 * time.Second, ReservedConcurrency: 200, SystemLogLevel: "WARN", Uses: []Use{
				{EventStream, Write}, {KeyTable, Read}, {FailedQueue, Write},
				{HealthTable, Write}, // the failed events' counts
			}},
			{Name: "stitch", Memory: 512, Timeout: 60 * time.Second, ReservedConcurrency: 20, Uses: []Use{
				{ProfileTable, ReadWrite}, {IdentityTable, ReadWrite}, {TouchpointTable, ReadWrite},
				{FailedQueue, Write}, {ProfileUpdateQueue, Write}, {HashKeySecret, Read}, {ArchiveFeed, Write},
				// audience membership, evaluated as events are recorded
				{AudienceTable, Read}, {AudienceQueue, Write}, {AudienceMemberTable, ReadWrite},
				{HealthTable, Write}, // the stream's lag per shard, the failed events' counts
			}, Settings: map[string]string{SettingTouchpointTTL: "9480h"}},
			// score fits the models daily and scores every profile hourly, fanning out one
			// invocation per part of the table (functions/score/README.md has the arithmetic):
			// 1769 MB is one full vCPU, and the timeout is Lambda's longest.
			// A part of an hourly run that could not start within the hour is left to the next run;
			// the parts it gave up on are on the FailedEvents queue. It scans the profiles.
			{Name: "score", Memory: 1769, Timeout: 15 * time.Minute, FanOut: true, Scans: []string{ProfileTable},
				Async: &AsyncInvoke{MaxAge: time.Hour, Retries: 2, OnFailureQueue: FailedQueue}, Uses: []Use{
					// the audience definitions: the daily fit trains the look-alike seeds they name, and
					// every run evaluates membership again where scores changed or definitions did
					// (the history seeds the events a new definition counts)
					{ProfileTable, ReadWrite}, {ModelTable, ReadWrite}, {AlertQueue, Write}, {AudienceTable, Read},
					{AudienceQueue, Write}, {TouchpointTable, Read}, {AudienceMemberTable, ReadWrite},
					{HealthTable, Write}, // the runs of its schedules
					// each lapse alert sent is logged for the console
					{ActivityTable, Write},
				}, Settings: map[string]string{
					SettingCLVWeeks: "52", SettingCLVDiscount: "0.1", SettingCLVMargin: "1",
					SettingLapseThreshold: "0.8", SettingLapseMinValue: "0", SettingLapseCooldown: "720h",
					SettingFitSample: "20000", SettingScorePart: "200000", SettingScoreRefresh: "24h",
				}},
			// profiles also carries the audience exports on, in steps: it invokes itself asynchronously
			// (FanOut) and each step reads pages of the members index for ~6 s of its 10 s, streams
			// the files by multipart upload and saves its progress in the export's manifest
			// (functions/profiles/README.md): one function, one timeout, no grant beyond its own.
			// A step Lambda gave up on is on the FailedEvents queue; invoked again, it resumes.
			// It manages the keys (the key routes, admin scope): it writes the Keys table, and scans it to
			// list the keys page by page and to find a key by its id.
			{Name: "profiles", Memory: 256, Timeout: 10 * time.Second, ReservedConcurrency: 20, FanOut: true, Scans: []string{KeyTable},
				Async: &AsyncInvoke{MaxAge: time.Hour, Retries: 2, OnFailureQueue: FailedQueue}, Uses: []Use{
					// Write access to what an erasure deletes or replaces by tombstones, and to the archive
					// bucket, where it leaves the request that removes the person from the archive's files.
					// It serves the reports, and keeps the audience definitions.
					{ProfileTable, ReadWrite}, {IdentityTable, ReadWrite}, {TouchpointTable, ReadWrite}, {KeyTable, ReadWrite},
					{ProfileUpdateQueue, Write}, {HashKeySecret, Read}, {ArchiveBucket, Write}, {ReportsBucket, Read},
					{AudienceTable, ReadWrite},
					// the members index, which its profile writes keep and its members and export routes
					// read, and the exports
					{AudienceMemberTable, ReadWrite}, {ExportsBucket, ReadWrite},
					// GET /v1/health: the status items, and the depths of the queues (and their
					// dead-letter queues) that say something went wrong or is not consumed
					{HealthTable, Read}, {FailedQueue, Attributes}, {FailedRunQueue, Attributes},
					{AlertQueue, Attributes}, {TriggerQueue, Attributes}, {AudienceQueue, Attributes},
					{ProfileUpdateQueue, Attributes},
					// the alerts and triggers sent, which it serves (and an erasure removes), and the audit
					// log, which it writes (an entry for each change made through the API) and serves
					{ActivityTable, ReadWrite},
					// the console's signed-in users, besides profile-API keys (filled in by the deployment)
				}, Settings: map[string]string{SettingAuthIssuer: "", SettingAuthClientID: "",
					// the export steps' bounds (functions/profiles/exports.go)
					"DCRM_EXPORT_PAGE": "1000", "DCRM_EXPORT_STEP_PAGES": "100", "DCRM_EXPORT_PART_BYTES": "5242880", "DCRM_EXPORT_RESERVE": "4s",
				}},
			// import records the files dropped in the import bucket (S3 invokes it, asynchronously) and
			// writes each file's report there; a 1 GB file takes minutes, so it has Lambda's longest
			// timeout. Spend records go to the archive bucket.
			{Name: "import", Memory: 1024, Timeout: 15 * time.Minute,
				Async: &AsyncInvoke{MaxAge: 6 * time.Hour, Retries: 2, OnFailureQueue: FailedQueue}, Uses: []Use{
					{ImportBucket, ReadWrite}, {ArchiveBucket, Write}, {EventStream, Write}, {FailedQueue, Write},
					{HealthTable, Write}, // the rejected rows' counts
				}},
			// archive turns each object the feed delivers into the archive's Parquet files (S3 invokes
			// it, asynchronously); a line it cannot read goes to the failed-events queue. Its daily
			// erasure pass rewrites the bucket's files without the people erased: a year of events at
			// 100 M a month and the snapshots of 10 M profiles take it minutes (functions/archive),
			// hence one full vCPU and Lambda's longest timeout (a pass cut off goes on when retried).
			{Name: "archive", Memory: 1769, Timeout: 15 * time.Minute,
				Async: &AsyncInvoke{MaxAge: 6 * time.Hour, Retries: 2, OnFailureQueue: FailedQueue}, Uses: []Use{
					{ArchiveBucket, ReadWrite}, {FailedQueue, Write}, {HealthTable, Write},
				}, Settings: map[string]string{SettingErasureSettle: "30m"}},
			// snapshot writes the daily snapshot of profiles, identifiers and merges to the archive
			// bucket, fanning out one invocation per segment of the tables it scans.
			// It lists the day's files (a rerun replaces them), hence read access to the bucket.
			{Name: "snapshot", Memory: 1769, Timeout: 15 * time.Minute, FanOut: true, Scans: []string{ProfileTable, IdentityTable},
				Async: &AsyncInvoke{MaxAge: 6 * time.Hour, Retries: 2, OnFailureQueue: FailedQueue}, Uses: []Use{
					{ProfileTable, Read}, {IdentityTable, Read}, {ArchiveBucket, ReadWrite}, {HealthTable, Write},
				}, Settings: map[string]string{SettingSnapshotPart: "200000"}},
			// reports computes the attribution and journey reports of a period from the archive's
			// files (events, the latest merges and profiles snapshots, the imported spend) and keeps
			// them under ReportsPrefix of ReportsBucket: a month of events at 100 M a month takes it minutes
			// (shared/journey/README.md has the arithmetic), hence one full vCPU and Lambda's longest
			// timeout; a run cut off is retried whole (its objects are replaced, latest last).
			{Name: "reports", Memory: 1769, Timeout: 15 * time.Minute,
				Async: &AsyncInvoke{MaxAge: 6 * time.Hour, Retries: 2, OnFailureQueue: FailedQueue}, Uses: []Use{
					{ArchiveBucket, Read}, {ReportsBucket, ReadWrite}, {HealthTable, Write},
				}, Settings: map[string]string{SettingReportDays: "30"}},
			// triggers reads the due index, records what fired on the profiles, and evaluates the
			// audiences of those whose membership a window changes. Its timeout stays under the
			// schedule's period, so runs do not pile up.
			{Name: "triggers", Memory: 256, Timeout: 4 * time.Minute,
				Async: &AsyncInvoke{MaxAge: 5 * time.Minute, Retries: 1, OnFailureQueue: FailedQueue}, Uses: []Use{
					{ProfileTable, ReadWrite}, {TriggerQueue, Write},
					{AudienceTable, Read}, {AudienceQueue, Write}, {TouchpointTable, Read}, {AudienceMemberTable, ReadWrite},
					{HealthTable, Write},
					// each trigger sent is logged for the console
					{ActivityTable, Write},
				}},
		},
		Routes: append(collectionRoutes(),
			Route{"GET", "/v1/profiles", "profiles", false},
			Route{"GET", "/v1/profiles/{profileId}", "profiles", false},
			Route{"GET", "/v1/profiles/{profileId}/events", "profiles", false},
			Route{"GET", "/v1/profiles/{profileId}/export", "profiles", false},
			Route{"DELETE", "/v1/profiles/{profileId}", "profiles", false},
			Route{"PUT", "/v1/profiles/{profileId}/consent", "profiles", false},
			Route{"GET", "/v1/profiles/{profileId}/merges", "profiles", false},
			// the alerts and triggers sent for the person, from the activity log (ActivityTable)
			Route{"GET", "/v1/profiles/{profileId}/contacts", "profiles", false},
			Route{"POST", "/v1/profiles/{profileId}/split", "profiles", false},
			// the reports kept under ReportsPrefix of ReportsBucket
			Route{"GET", "/v1/reports", "profiles", false},
			Route{"GET", "/v1/reports/{period}", "profiles", false},
			Route{"GET", "/v1/reports/{period}/{part}", "profiles", false},
			// the audience definitions kept in AudienceTable
			Route{"GET", "/v1/audiences", "profiles", false},
			Route{"GET", "/v1/audiences/{audienceId}", "profiles", false},
			Route{"PUT", "/v1/audiences/{audienceId}", "profiles", false},
			Route{"DELETE", "/v1/audiences/{audienceId}", "profiles", false},
			// the members index (AudienceMemberTable) and the exports (ExportsBucket)
			Route{"GET", "/v1/audiences/{audienceId}/members", "profiles", false},
			Route{"POST", "/v1/audiences/{audienceId}/exports", "profiles", false},
			Route{"GET", "/v1/audiences/{audienceId}/exports/{exportId}", "profiles", false},
			// the audience sizes the scoring runs count, kept in AudienceTable
			Route{"GET", "/v1/audiences/{audienceId}/sizes", "profiles", false},
			// the computed-trait definitions kept beside the audiences in AudienceTable
			Route{"GET", "/v1/traits", "profiles", false},
			Route{"GET", "/v1/traits/{traitId}", "profiles", false},
			Route{"PUT", "/v1/traits/{traitId}", "profiles", false},
			Route{"DELETE", "/v1/traits/{traitId}", "profiles", false},
			// the write keys and profile-API keys kept (hashed) in KeyTable: admin scope
			Route{"GET", "/v1/keys", "profiles", false},
			Route{"POST", "/v1/keys", "profiles", false},
			Route{"DELETE", "/v1/keys/{keyId}", "profiles", false},
			// the alerts and triggers sent, and the audit log of the changes made through this API,
			// kept in ActivityTable
			Route{"GET", "/v1/alerts", "profiles", false},
			Route{"GET", "/v1/audit", "profiles", false},
			// the browser-safe route: a page, with a write key, asks what it may show its visitor
			Route{"POST", "/v1/visitor", "profiles", true},
			Route{"OPTIONS", "/v1/visitor", "profiles", true},
			// the console's files (HTML, CSS, JavaScript): public; what they call needs a user's token
			// the pipeline's health: stream lag, schedules' runs, failed events, queue depths
			Route{"GET", "/v1/health", "profiles", false},
			Route{"GET", "/console", "profiles", true},
			Route{"GET", "/console/{proxy+}", "profiles", true},
		),
		Mappings: []StreamMapping{{
			Stream: EventStream, Function: "stitch", BatchSize: 500, MaxBatchingWindow: time.Second,
			BisectOnError: true, RetryAttempts: 3, ReportBatchItemFailures: true, OnFailureQueue: FailedQueue,
			MaxRecordAge: 24 * time.Hour,
		}},
		Schedules: []Schedule{
			{Name: ScoreSchedule, Function: "score", Every: time.Hour, RetryAttempts: 3, DeadLetterQueue: FailedRunQueue},
			// the score function fits when the run is of "fit"
			{Name: FitSchedule, Function: "score", Every: 24 * time.Hour, RetryAttempts: 3, DeadLetterQueue: FailedRunQueue},
			{Name: TriggersSchedule, Function: "triggers", Every: 5 * time.Minute, RetryAttempts: 3, DeadLetterQueue: FailedRunQueue},
			{Name: SnapshotSchedule, Function: "snapshot", Every: 24 * time.Hour, RetryAttempts: 3, DeadLetterQueue: FailedRunQueue},
			// the archive function passes the erasure requests when the run is of "archive-erasure"
			{Name: ArchiveErasureSchedule, Function: "archive", Every: 24 * time.Hour, RetryAttempts: 3, DeadLetterQueue: FailedRunQueue},
			{Name: ReportsSchedule, Function: "reports", Every: 24 * time.Hour, RetryAttempts: 3, DeadLetterQueue: FailedRunQueue},
		},
	}
}

// CollectionCalls are the Segment Tracking API calls the beacon endpoint takes at POST /v1/<call>.
var CollectionCalls = []string{"track", "page", "screen", "identify", "group", "alias", "batch"}

// collectionRoutes are the public routes of collect: the Tracking API calls (and their CORS
// preflights, which collect answers itself because allowed origins are per source), the pixel API
// for impressions in emails and ads, and the tracker script.
func collectionRoutes() []Route {
	var routes []Route
	for _, call := range CollectionCalls {
		routes = append(routes, Route{"POST", "/v1/" + call, "collect", true}, Route{"OPTIONS", "/v1/" + call, "collect", true})
	}
	return append(routes,
		Route{"GET", "/v1/pixel/{type}", "collect", true},
		Route{"GET", "/t.js", "collect", true},
	)
}

// EnvVar is the environment variable through which a function learns a resource's physical name
// (tables, streams, buckets), URL (queues) or ARN (secrets): DCRM_PROFILES_TABLE,
// DCRM_BEACONS_STREAM, DCRM_ALERTS_QUEUE_URL, DCRM_IMPORT_BUCKET, DCRM_HASH_KEY_SECRET,
// DCRM_ARCHIVE_FEED_DELIVERY_STREAM.
func (t Topology) EnvVar(resource string) string {
	name := "DCRM_" + upperSnake(resource)
	switch t.Kind(resource) {
	case "table":
		return name + "_TABLE"
	case "queue":
		return name + "_QUEUE_URL"
	case "stream":
		return name + "_STREAM"
	case "bucket":
		return name + "_BUCKET"
	case "secret":
		return name + "_SECRET"
	case "deliverystream":
		return name + "_DELIVERY_STREAM"
	}
	panic(fmt.Sprintf("topology: unknown resource %q", resource))
}

// DeadLetterEnvVar is where a function with Attributes access to a queue that has a dead-letter
// queue finds that queue's URL: DCRM_FAILED_EVENTS_DEAD_LETTER_QUEUE_URL.
func (t Topology) DeadLetterEnvVar(queue string) string {
	return strings.TrimSuffix(t.EnvVar(queue), "_QUEUE_URL") + "_DEAD_LETTER_QUEUE_URL"
}

// Queue returns the queue with the given logical name.
func (t Topology) Queue(name string) (Queue, bool) {
	for _, q := range t.Queues {
		if q.Name == name {
			return q, true
		}
	}
	return Queue{}, false
}

// SecretValueEnvVar is where the local stack puts a secret's value itself: DCRM_HASH_KEY.
func (t Topology) SecretValueEnvVar(secret string) string {
	return strings.TrimSuffix(t.EnvVar(secret), "_SECRET")
}

// Kind tells whether a logical name is a "table", "queue", "stream", "bucket", "secret" or
// "deliverystream" ("" if unknown).
func (t Topology) Kind(resource string) string {
	for _, x := range t.Tables {
		if x.Name == resource {
			return "table"
		}
	}
	for _, x := range t.Queues {
		if x.Name == resource {
			return "queue"
		}
	}
	for _, x := range t.Streams {
		if x.Name == resource {
			return "stream"
		}
	}
	for _, x := range t.Buckets {
		if x.Name == resource {
			return "bucket"
		}
	}
	for _, x := range t.Secrets {
		if x.Name == resource {
			return "secret"
		}
	}
	for _, x := range t.DeliveryStreams {
		if x.Name == resource {
			return "deliverystream"
		}
	}
	return ""
}

// Table returns the table with the given logical name.
func (t Topology) Table(name string) (Table, bool) {
	for _, x := range t.Tables {
		if x.Name == name {
			return x, true
		}
	}
	return Table{}, false
}

// Function returns the function with the given name.
func (t Topology) Function(name string) (Function, bool) {
	for _, f := range t.Functions {
		if f.Name == name {
			return f, true
		}
	}
	return Function{}, false
}

// Validate checks that every reference names something declared, so a typo fails a test rather
// than a deployment.
func (t Topology) Validate() error {
	fn := func(name string) bool { _, ok := t.Function(name); return ok }
	seen := map[string]bool{}
	for _, n := range t.names() {
		if seen[n] {
			return fmt.Errorf("resource name %q declared twice", n)
		}
		seen[n] = true
	}
	for _, f := range t.Functions {
		for _, u := range f.Uses {
			if t.Kind(u.Resource) == "" {
				return fmt.Errorf("function %s uses unknown resource %q", f.Name, u.Resource)
			}
			if u.Access == Attributes && t.Kind(u.Resource) != "queue" {
				return fmt.Errorf("function %s reads the attributes of %q, which is not a queue", f.Name, u.Resource)
			}
		}
		for _, tb := range f.Scans {
			if !f.uses(tb) || t.Kind(tb) != "table" {
				return fmt.Errorf("function %s scans %q, which is not a table it reads", f.Name, tb)
			}
		}
		if f.Async != nil && f.Async.OnFailureQueue != "" && t.Kind(f.Async.OnFailureQueue) != "queue" {
			return fmt.Errorf("function %s: unknown on-failure queue %q", f.Name, f.Async.OnFailureQueue)
		}
		if f.SystemLogLevel != "" && !slices.Contains(SystemLogLevels, f.SystemLogLevel) {
			return fmt.Errorf("function %s: system log level %q, want one of %v", f.Name, f.SystemLogLevel, SystemLogLevels)
		}
	}
	for _, r := range t.Routes {
		if !fn(r.Function) {
			return fmt.Errorf("route %s %s: unknown function %q", r.Method, r.Path, r.Function)
		}
	}
	for _, m := range t.Mappings {
		if t.Kind(m.Stream) != "stream" || !fn(m.Function) {
			return fmt.Errorf("mapping %s -> %s: unknown stream or function", m.Stream, m.Function)
		}
		if m.OnFailureQueue != "" && t.Kind(m.OnFailureQueue) != "queue" {
			return fmt.Errorf("mapping %s -> %s: unknown on-failure queue %q", m.Stream, m.Function, m.OnFailureQueue)
		}
	}
	for _, s := range t.Schedules {
		if !fn(s.Function) || s.Every <= 0 {
			return fmt.Errorf("schedule %s: unknown function or no period", s.Name)
		}
		if s.DeadLetterQueue != "" && t.Kind(s.DeadLetterQueue) != "queue" {
			return fmt.Errorf("schedule %s: unknown dead-letter queue %q", s.Name, s.DeadLetterQueue)
		}
	}
	for _, tb := range t.Tables {
		if err := tb.validateIndexes(); err != nil {
			return err
		}
	}
	for _, b := range t.Buckets {
		for _, e := range b.Expire {
			if e.After < 24*time.Hour || e.After%(24*time.Hour) != 0 {
				return fmt.Errorf("bucket %s: expiry of %q after %v, want whole days", b.Name, e.Prefix, e.After)
			}
		}
	}
	for _, d := range t.DeliveryStreams {
		switch {
		case t.Kind(d.Bucket) != "bucket" || d.Prefix == "" || d.ErrorPrefix == "":
			return fmt.Errorf("delivery stream %s: unknown bucket %q, or no prefix or error prefix", d.Name, d.Bucket)
		case d.BufferInterval < 0 || d.BufferInterval > 900*time.Second || d.BufferInterval%time.Second != 0:
			return fmt.Errorf("delivery stream %s: buffer interval %v, want whole seconds from 0 to 900", d.Name, d.BufferInterval)
		case d.BufferBytes < 1<<20 || d.BufferBytes > 128<<20 || d.BufferBytes%(1<<20) != 0:
			return fmt.Errorf("delivery stream %s: buffer of %d bytes, want whole MiB from 1 to 128", d.Name, d.BufferBytes)
		}
	}
	return t.validateNotifications(fn)
}

// validateNotifications checks that each notification names a bucket and a function that records
// the invocations it gives up on (Async.OnFailureQueue: an object nobody processed must not go
// unnoticed), and that no two of one bucket overlap (one's prefix a prefix of the other's and one's
// suffix a suffix of the other's): S3 refuses such a configuration, as it could not tell which one
// an object is for.
func (t Topology) validateNotifications(fn func(string) bool) error {
	for i, n := range t.Notifications {
		if t.Kind(n.Bucket) != "bucket" || !fn(n.Function) {
			return fmt.Errorf("notification %s/%s*%s -> %s: unknown bucket or function", n.Bucket, n.Prefix, n.Suffix, n.Function)
		}
		if f, _ := t.Function(n.Function); f.Async == nil || f.Async.OnFailureQueue == "" {
			return fmt.Errorf("notification %s/%s*%s -> %s: the function has no on-failure queue (Async) for the objects it fails on",
				n.Bucket, n.Prefix, n.Suffix, n.Function)
		}
		for _, m := range t.Notifications[:i] {
			if m.Bucket == n.Bucket && overlaps(m.Prefix, n.Prefix, strings.HasPrefix) && overlaps(m.Suffix, n.Suffix, strings.HasSuffix) {
				return fmt.Errorf("notifications of bucket %s overlap: %q…%q -> %s and %q…%q -> %s",
					n.Bucket, m.Prefix, m.Suffix, m.Function, n.Prefix, n.Suffix, n.Function)
			}
		}
	}
	return nil
}

func overlaps(a, b string, has func(s, part string) bool) bool { return has(a, b) || has(b, a) }

// Matches tells whether an object's key is one the notification is for.
func (n Notification) Matches(key string) bool {
	return strings.HasPrefix(key, n.Prefix) && strings.HasSuffix(key, n.Suffix)
}

// uses tells whether the function declares a Use of the resource.
func (f Function) uses(resource string) bool {
	for _, u := range f.Uses {
		if u.Resource == resource {
			return true
		}
	}
	return false
}

func (tb Table) validateIndexes() error {
	seen := map[string]bool{}
	for _, ix := range tb.Indexes {
		switch {
		case ix.Name == "" || seen[ix.Name]:
			return fmt.Errorf("table %s: index without a name or declared twice (%q)", tb.Name, ix.Name)
		case ix.PartitionKey == "":
			return fmt.Errorf("table %s: index %s has no partition key", tb.Name, ix.Name)
		case ix.Projection != ProjectKeysOnly && ix.Projection != ProjectInclude && ix.Projection != ProjectAll:
			return fmt.Errorf("table %s: index %s: unknown projection %q", tb.Name, ix.Name, ix.Projection)
		case (ix.Projection == ProjectInclude) != (len(ix.NonKeyAttributes) > 0):
			return fmt.Errorf("table %s: index %s: non-key attributes go with an include projection, and only with it", tb.Name, ix.Name)
		}
		seen[ix.Name] = true
	}
	return nil
}

func upperSnake(s string) string {
	var b strings.Builder
	for i, r := range s {
		if i > 0 && r >= 'A' && r <= 'Z' {
			b.WriteByte('_')
		}
		b.WriteRune(r)
	}
	return strings.ToUpper(b.String())
}

func (t Topology) names() []string {
	var n []string
	for _, x := range t.Tables {
		n = append(n, x.Name)
	}
	for _, x := range t.Queues {
		n = append(n, x.Name)
	}
	for _, x := range t.Streams {
		n = append(n, x.Name)
	}
	for _, x := range t.Buckets {
		n = append(n, x.Name)
	}
	for _, x := range t.Secrets {
		n = append(n, x.Name)
	}
	for _, x := range t.DeliveryStreams {
		n = append(n, x.Name)
	}
	return n
}

// FromEnv reads the physical names (or queue URLs) of the given resources from a function's
// environment, as the CDK stack and the local host set it, keyed by logical name. A function calls
// it once at start-up and fails fast on what is missing.
func (t Topology) FromEnv(getenv func(string) string, resources ...string) (map[string]string, error) {
	names := make(map[string]string, len(resources))
	for _, r := range resources {
		v := getenv(t.EnvVar(r))
		if v == "" {
			return nil, fmt.Errorf("read environment: %s is not set", t.EnvVar(r))
		}
		names[r] = v
	}
	return names, nil
}

// DurationSetting reads a positive Go duration setting, or fallback when it is unset (a zero
// fallback makes the setting required).
func DurationSetting(getenv func(string) string, name string, fallback time.Duration) (time.Duration, error) {
	v := getenv(name)
	if v == "" && fallback > 0 {
		return fallback, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("read environment: %s=%q is not a positive duration (e.g. 720h)", name, v)
	}
	return d, nil
}

// ImportKinds are the prefixes of the import bucket, one per kind of file (package importing's
// kinds): a file dropped under one starts its import.
var ImportKinds = []string{"customers", "orders", "returns", "contacts", "cases", "consents", "spend"}

func importNotifications() []Notification {
	var ns []Notification
	for _, k := range ImportKinds {
		ns = append(ns, Notification{Bucket: ImportBucket, Prefix: k + "/", Function: "import"})
	}
	return ns
}
