package faults_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/infra/topology"
	"github.com/dcrm-project/dcrm/scripts/devstack/devtest"
	"github.com/dcrm-project/dcrm/scripts/devstack/faults"
	"github.com/dcrm-project/dcrm/scripts/devstack/stack"
	"github.com/dcrm-project/dcrm/shared/keystore"
	"github.com/dcrm-project/dcrm/shared/localaws"
	"github.com/dcrm-project/dcrm/shared/localaws/localawstest"
	"github.com/dcrm-project/dcrm/shared/source"
)

func TestMain(m *testing.M) { devtest.Main(m) }

// pipeline is a whole local stack running the real bootstraps, with every AWS call of the
// functions and of the host (the stream mapping included) going through one fault injector, and a
// sender that behaves as the SDKs do: it sends batches of events with message ids of its own and
// sends a batch again, unchanged, when collect answers 429 or 503.
type pipeline struct {
	t          *testing.T
	st         *stack.Stack
	in         *faults.Injector
	direct     localaws.Endpoints // the servers themselves, for the test's own reads
	hostLog    devtest.Buffer
	logs       string // the functions' logs, <logs>/<function>.log
	writeKey   string
	profileKey string
	run        string

	mu       sync.Mutex
	answers  map[string]int // error codes the servers answered (through the proxies), by code
	people   []*person
	statuses map[int]int // collect's answers to the sender
	nextMsg  int
}

// person is one customer on two devices that log in on both: their events are on two partition
// keys, so on two shards when the stream has two, and their profiles merge.
type person struct {
	devices [2]string
	userID  string
	sent    map[string]bool // message ids sent (each once, whatever the retries)
}

// apart returns two device ids, a and one made from b, whose partition keys fall in different
// quarters of Kinesis's hash key range, so on different shards of a stream of two or four shards
// split evenly: the two devices' events are recorded by different stitch invocations at once.
func apart(a, b string) [2]string {
	quarter := func(key string) byte { h := md5.Sum([]byte(key)); return h[0] >> 6 }
	for n := 0; ; n++ {
		if other := fmt.Sprintf("%s-%d", b, n); quarter(other) != quarter(a) && quarter(other)>>1 != quarter(a)>>1 {
			return [2]string{a, other}
		}
	}
}

type option func(*stack.Config)

// withTopology changes the default topology for one test.
func withTopology(change func(*topology.Topology)) option {
	return func(c *stack.Config) {
		if c.Topology == nil {
			top := topology.Default()
			c.Topology = &top
		}
		change(c.Topology)
	}
}

// oneShard gives the stream a single shard, so that stitch runs one batch at a time: a crash
// then kills the invocation under test alone (the host kills a function's busy processes, and
// with four shards another shard's batch would die with it and use up its retries).
var oneShard = withTopology(func(top *topology.Topology) {
	for i := range top.Streams {
		if top.Streams[i].Name == topology.EventStream {
			top.Streams[i].Shards = 1
		}
	}
})

// startPipeline starts a pipeline for a test, which runs in parallel with the other pipelines.
func startPipeline(t *testing.T, opts ...option) *pipeline {
	t.Helper()
	t.Parallel()
	direct := localawstest.Reachable(t)
	functions := devtest.Functions(t)
	in := faults.New(nil, faults.WithSeed(11))
	p := &pipeline{t: t, in: in, direct: direct, run: localawstest.UniqueName("r"), statuses: map[int]int{}, answers: map[string]int{},
		writeKey: keystore.NewKey("wk_"), profileKey: keystore.NewKey("pk_")}
	proxied := direct
	for _, ep := range []*string{&proxied.DynamoDB, &proxied.Kinesis, &proxied.SQS} {
		proxy, err := faults.StartProxy(*ep, p.observe, faults.Middleware(in))
		require.NoError(t, err)
		t.Cleanup(func() { proxy.Close() })
		*ep = proxy.URL()
	}
	logs := t.TempDir()
	p.logs = logs
	st, keys := devtest.StackWith(t, "faults", functions, func(c *stack.Config) {
		c.Endpoints = proxied
		c.RetryDelay = 50 * time.Millisecond
		c.LogDir = logs
		c.Logger = slog.New(slog.NewTextHandler(&p.hostLog, nil))
		for _, o := range opts {
			o(c)
		}
	})
	t.Cleanup(func() {
		if t.Failed() {
			dumpLogs(t, logs, p.hostLog.String())
		}
	})
	p.st = st
	ctx := context.Background()
	require.NoError(t, keys.PutSource(ctx, p.writeKey, source.Source{ID: "src_" + p.run, Name: "faults"}))
	require.NoError(t, keys.PutProfileAPIKey(ctx, p.profileKey, "faults"))
	for i := range 8 {
		id := fmt.Sprintf("%s-%d", p.run, i)
		p.people = append(p.people, &person{devices: apart("a-"+id, "b-"+id), userID: "u-" + id, sent: map[string]bool{}})
	}
	return p
}

// wave sends, for every person, n page views from each device and a login on each, in batches
// of up to 50 events, each visitor's events in order; it returns once collect took them all.
func (p *pipeline) wave(n int) {
	var events []map[string]any
	for step := range n + 1 {
		for _, who := range p.people {
			for d, device := range who.devices {
				e := map[string]any{"type": "page", "anonymousId": device, "name": "Home", "properties": map[string]any{"step": step}}
				if step == n {
					e = map[string]any{"type": "identify", "anonymousId": device, "userId": who.userID}
				}
				p.mu.Lock()
				p.nextMsg++
				e["messageId"] = fmt.Sprintf("m-%s-%d-%d", p.run, p.nextMsg, d)
				who.sent[e["messageId"].(string)] = true
				p.mu.Unlock()
				events = append(events, e)
			}
		}
	}
	for len(events) > 0 {
		k := min(50, len(events))
		p.send(events[:k])
		events = events[k:]
	}
}

// send posts one batch until collect takes it, as Segment's SDKs do: 429 and any 5xx mean "again,
// later" (the sender waits far less than Retry-After asks, to keep the test short). A 500 is the
// local host's answer when collect itself failed or ran out of time.
func (p *pipeline) send(batch []map[string]any) {
	body, err := json.Marshal(map[string]any{"batch": batch})
	require.NoError(p.t, err)
	for attempt := 1; ; attempt++ {
		req, err := http.NewRequest(http.MethodPost, p.st.APIURL()+"/v1/batch", bytes.NewReader(body))
		require.NoError(p.t, err)
		req.SetBasicAuth(p.writeKey, "")
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(p.t, err)
		answer, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		p.mu.Lock()
		p.statuses[resp.StatusCode]++
		p.mu.Unlock()
		switch resp.StatusCode {
		case http.StatusOK:
			return
		case http.StatusTooManyRequests, http.StatusServiceUnavailable, http.StatusInternalServerError:
			if resp.StatusCode != http.StatusInternalServerError {
				require.NotEmpty(p.t, resp.Header.Get("Retry-After"), "a refusal says when to come back")
			}
			require.Less(p.t, attempt, 200, "collect kept refusing the batch: %s", answer)
			time.Sleep(20 * time.Millisecond) // the sender's back-off, not synchronisation
		default:
			p.t.Fatalf("collect answered %d: %s", resp.StatusCode, answer)
		}
	}
}

// functionLog is what a function has logged so far.
func (p *pipeline) functionLog(name string) string {
	b, err := os.ReadFile(filepath.Join(p.logs, name+".log"))
	require.NoError(p.t, err)
	return string(b)
}

// observe counts the error codes the servers (and the injector) answer, such as the conditional
// check failures of concurrent writers.
func (p *pipeline) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := &sniffer{ResponseWriter: w}
		next.ServeHTTP(s, r)
		if s.status < 400 {
			return
		}
		var doc struct {
			Type string `json:"__type"`
		}
		_ = json.Unmarshal(s.head.Bytes(), &doc)
		code := doc.Type[strings.LastIndex(doc.Type, "#")+1:]
		p.mu.Lock()
		p.answers[code]++
		p.mu.Unlock()
	})
}

// answered is how many times a server answered with the error code.
func (p *pipeline) answered(code string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.answers[code]
}

// sniffer keeps the status and the start of an error answer.
type sniffer struct {
	http.ResponseWriter
	status int
	head   bytes.Buffer
}

func (s *sniffer) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

func (s *sniffer) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	if s.status >= 400 && s.head.Len() < 4096 {
		s.head.Write(b[:min(len(b), 4096)])
	}
	return s.ResponseWriter.Write(b)
}

func (s *sniffer) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// status is how many times collect answered the sender with code.
func (p *pipeline) status(code int) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.statuses[code]
}

type profileView struct {
	ProfileID    string   `json:"profileId"`
	AnonymousIDs []string `json:"anonymousIds"`
	UserID       string   `json:"userId"`
	Counts       struct {
		Events     int `json:"events"`
		Identifies int `json:"identifies"`
	} `json:"counts"`
}

// profile reads a person's profile by one of their devices through the profile API.
func (p *pipeline) profile(device string) (profileView, bool) {
	var v profileView
	req, err := http.NewRequest(http.MethodGet, p.st.APIURL()+"/v1/profiles?anonymousId="+url.QueryEscape(device), nil)
	require.NoError(p.t, err)
	req.Header.Set("Authorization", "Bearer "+p.profileKey)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(p.t, err)
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return v, false
	}
	require.NoError(p.t, json.NewDecoder(resp.Body).Decode(&v))
	return v, true
}

// settled waits until every person has one profile holding exactly the events sent, once each.
// Callers send a last wave after the fault first: a shard's records are delivered in order, so
// once a person's last events are on the profile nothing earlier of theirs can still come, and an
// event counted twice would show.
func (p *pipeline) settled() {
	p.t.Helper()
	var last string
	ok := assert.Eventually(p.t, func() bool {
		for _, who := range p.people {
			a, okA := p.profile(who.devices[0])
			b, okB := p.profile(who.devices[1])
			switch {
			case !okA || !okB:
				last = "no profile yet for " + who.userID
				return false
			case a.ProfileID != b.ProfileID:
				last = fmt.Sprintf("%s: two profiles %s and %s", who.userID, a.ProfileID, b.ProfileID)
				return false
			case a.Counts.Events < len(who.sent):
				last = fmt.Sprintf("%s: %d events of %d", who.userID, a.Counts.Events, len(who.sent))
				return false
			}
		}
		return true
	}, 90*time.Second, 250*time.Millisecond)
	require.True(p.t, ok, "the pipeline did not catch up: %s", last)
	for _, who := range p.people {
		v, _ := p.profile(who.devices[0])
		assert.Equal(p.t, len(who.sent), v.Counts.Events, "%s: every event counted exactly once", who.userID)
		assert.Equal(p.t, who.userID, v.UserID)
		assert.ElementsMatch(p.t, who.devices[:], v.AnonymousIDs)
	}
}

// settledWhile runs check after the pipeline has settled under the fault still injected.
func (p *pipeline) settledWhile(check func()) {
	p.t.Helper()
	p.settled()
	check()
}

// drain reads every message of a queue (logical name) from the server itself.
func (p *pipeline) drain(queue string) []json.RawMessage {
	q := p.direct.SQSClient()
	u := p.st.Resources()[queue]
	var out []json.RawMessage
	for {
		resp, err := q.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(u), MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
		require.NoError(p.t, err)
		if len(resp.Messages) == 0 {
			return out
		}
		for _, m := range resp.Messages {
			out = append(out, json.RawMessage(aws.ToString(m.Body)))
			_, err := q.DeleteMessage(context.Background(), &sqs.DeleteMessageInput{QueueUrl: aws.String(u), ReceiptHandle: m.ReceiptHandle})
			require.NoError(p.t, err)
		}
	}
}

// noFailedEvents asserts that nothing went to the failed-events queue: no event was refused, and
// no batch given up on.
func (p *pipeline) noFailedEvents() {
	p.t.Helper()
	for _, m := range p.drain(topology.FailedQueue) {
		p.t.Errorf("on the failed-events queue: %s", m)
	}
}

// sum of events sent so far.
func (p *pipeline) sent() int {
	n := 0
	for _, who := range p.people {
		n += len(who.sent)
	}
	return n
}

// dumpLogs shows the end of the host's and the functions' logs of a failed test.
func dumpLogs(t *testing.T, dir, host string) {
	tail := func(s string) string {
		lines := strings.Split(strings.TrimSpace(s), "\n")
		return strings.Join(lines[max(0, len(lines)-40):], "\n")
	}
	t.Logf("local host:\n%s", tail(host))
	files, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	for _, f := range files {
		b, _ := os.ReadFile(f)
		t.Logf("%s:\n%s", filepath.Base(f), tail(string(b)))
	}
}
