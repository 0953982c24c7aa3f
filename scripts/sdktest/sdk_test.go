package sdktest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	analytics "github.com/segmentio/analytics-go/v3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/scripts/devstack/devtest"
	"github.com/dcrm-project/dcrm/shared/keystore"
	"github.com/dcrm-project/dcrm/shared/localaws/localawstest"
	"github.com/dcrm-project/dcrm/shared/pii"
	"github.com/dcrm-project/dcrm/shared/source"
)

// stitchDeadline bounds how long a test waits for the stream to be stitched into profiles.
const stitchDeadline = 90 * time.Second

// TestSegmentSDKs sends the same short visit through each SDK, unchanged, against one local stack
// running the real bootstrap binaries: a page view and a product view while anonymous, a login
// (identify with traits) and an order under the user id. Each visitor must end up as one profile
// holding all four events, the device's anonymous id and the traits.
func TestSegmentSDKs(t *testing.T) {
	nodeProject(t) // before a stack is started for nothing
	ctx := context.Background()
	st, keys := devtest.Stack(t, "sdk")
	writeKey, profileKey := keystore.NewKey("wk_"), keystore.NewKey("pk_")
	require.NoError(t, keys.PutSource(ctx, writeKey, source.Source{ID: "src_server", Name: "server", Trusted: true}))
	require.NoError(t, keys.PutProfileAPIKey(ctx, profileKey, "sdktest"))
	profiles := profileAPI{url: st.APIURL(), key: profileKey, http: &http.Client{Timeout: 10 * time.Second}}

	t.Run("analytics-go", func(t *testing.T) {
		t.Parallel()
		v := newVisit("go")
		var got outcomes
		client, err := analytics.NewWithConfig(writeKey, analytics.Config{
			Endpoint: st.APIURL(), BatchSize: 2, Interval: 100 * time.Millisecond, Callback: &got,
			Logger: analytics.StdLogger(log.New(io.Discard, "", 0)),
		})
		require.NoError(t, err)
		require.NoError(t, client.Enqueue(analytics.Page{AnonymousId: v.anonymousID, Name: "Home",
			Properties: analytics.NewProperties().SetPath("/").SetURL("https://shop.example/")}))
		require.NoError(t, client.Enqueue(analytics.Track{AnonymousId: v.anonymousID, Event: "Product Viewed",
			Properties: analytics.NewProperties().Set("product_id", "red-shoes").SetPrice(59)}))
		require.NoError(t, client.Enqueue(analytics.Identify{AnonymousId: v.anonymousID, UserId: v.userID,
			Traits: analytics.NewTraits().SetName(v.name).Set("plan", "member")}))
		require.NoError(t, client.Enqueue(analytics.Track{UserId: v.userID, Event: "Order Completed",
			Properties: analytics.NewProperties().SetOrderId("o-" + v.userID).SetRevenue(59)}))
		require.NoError(t, client.Close()) // flushes what is queued

		got.mu.Lock()
		assert.Empty(t, got.failures, "the SDK reported failed deliveries")
		assert.Equal(t, 4, got.sent, "the SDK reported %d events delivered", got.sent)
		got.mu.Unlock()
		profiles.requireStitched(t, v)
	})

	t.Run("analytics-node", func(t *testing.T) {
		t.Parallel()
		v := newVisit("node")
		res := runNode(t, "send.mjs", st.APIURL(), writeKey, v)
		assert.Len(t, res.Statuses, 2, "four events in batches of two are two requests to /v1/batch")
		profiles.requireStitched(t, v)
	})

	// RudderStack's SDK speaks the same API and gzips every request.
	t.Run("rudder-sdk-node", func(t *testing.T) {
		t.Parallel()
		v := newVisit("rudder")
		res := runNode(t, "send-rudderstack.mjs", st.APIURL(), writeKey, v)
		assert.GreaterOrEqual(t, len(res.Statuses), 2, "four events in batches of at most two take several requests to /v1/batch")
		require.NotEmpty(t, res.Encodings)
		for _, e := range res.Encodings {
			assert.Equal(t, "gzip", e, "the SDK sends gzip")
		}
		profiles.requireStitched(t, v)
	})
}

// nodeResult is what the send scripts print: the HTTP status of each request, the Content-Encoding
// each request was sent with (where the script can see it) and the errors the SDK reported.
type nodeResult struct {
	Statuses  []int    `json:"statuses"`
	Encodings []string `json:"encodings"`
	Errors    []string `json:"errors"`
}

// runNode runs one of this folder's send scripts for visit v and requires that the SDK delivered
// everything: no errors, every request answered 200.
func runNode(t *testing.T, script, api, writeKey string, v visit) nodeResult {
	t.Helper()
	dir := nodeProject(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", script)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "DCRM_API_URL="+api, "DCRM_WRITE_KEY="+writeKey,
		"SDKTEST_ANONYMOUS_ID="+v.anonymousID, "SDKTEST_USER_ID="+v.userID, "SDKTEST_NAME="+v.name)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "node %s:\n%s", script, out)
	var res nodeResult
	require.NoError(t, json.Unmarshal(lastLine(out), &res), "node %s printed:\n%s", script, out)
	assert.Empty(t, res.Errors, "node %s", script)
	require.NotEmpty(t, res.Statuses, "node %s made no request", script)
	for _, s := range res.Statuses {
		assert.Equal(t, http.StatusOK, s, "node %s: a request was refused", script)
	}
	return res
}

// visit names one SDK's visitor after a random run id, so that runs never see each other's data.
type visit struct {
	anonymousID, userID, name string
}

func newVisit(sdk string) visit {
	run := localawstest.UniqueName(sdk)
	return visit{anonymousID: "anon-" + run, userID: "user-" + run, name: "Shopper " + run}
}

// requireStitched waits until the visit's user id and anonymous id resolve to one profile holding
// the four events and the traits, and fails with the last thing it saw once the deadline passes.
func (api profileAPI) requireStitched(t *testing.T, v visit) {
	t.Helper()
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		assert.NoError(c, api.stitched(v))
	}, stitchDeadline, 200*time.Millisecond, "visit %s / %s was not stitched into one profile", v.anonymousID, v.userID)
}

var errNotYet = errors.New("not yet")

func (api profileAPI) stitched(v visit) error {
	p, err := api.profile("userId", v.userID)
	if err != nil {
		return err
	}
	byAnon, err := api.profile("anonymousId", v.anonymousID)
	if err != nil {
		return err
	}
	if p.ProfileID != byAnon.ProfileID {
		return fmt.Errorf("%w: the anonymous id is on profile %s, the user id on %s", errNotYet, byAnon.ProfileID, p.ProfileID)
	}
	if !slices.Contains(p.AnonymousIDs, v.anonymousID) {
		return fmt.Errorf("%w: profile's anonymous ids %v lack %s", errNotYet, p.AnonymousIDs, v.anonymousID)
	}
	want := counts{Events: 4, PageViews: 1, Tracks: 2, Identifies: 1}
	if p.Counts != want {
		return fmt.Errorf("%w: profile counts %+v, want %+v", errNotYet, p.Counts, want)
	}
	// A person's name is personal data: the endpoint redacts it (the source does not keep raw data).
	if p.UserID != v.userID || p.Traits["name"] != pii.Redacted || p.Traits["plan"] != "member" {
		return fmt.Errorf("%w: profile has userId %q and traits %v", errNotYet, p.UserID, p.Traits)
	}
	return nil
}

type counts struct {
	Events     int `json:"events"`
	PageViews  int `json:"pageViews"`
	Tracks     int `json:"tracks"`
	Identifies int `json:"identifies"`
}

type profile struct {
	ProfileID    string         `json:"profileId"`
	UserID       string         `json:"userId"`
	AnonymousIDs []string       `json:"anonymousIds"`
	Traits       map[string]any `json:"traits"`
	Counts       counts         `json:"counts"`
}

// profileAPI reads profiles as a downstream tool does.
type profileAPI struct {
	url, key string
	http     *http.Client
}

func (api profileAPI) profile(idType, id string) (profile, error) {
	var p profile
	req, err := http.NewRequest(http.MethodGet, api.url+"/v1/profiles?"+idType+"="+url.QueryEscape(id), nil)
	if err != nil {
		return p, err
	}
	req.Header.Set("Authorization", "Bearer "+api.key)
	resp, err := api.http.Do(req)
	if err != nil {
		return p, fmt.Errorf("get profile: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return p, fmt.Errorf("read profile: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return p, fmt.Errorf("%w: profile %s=%s: %d %s", errNotYet, idType, id, resp.StatusCode, body)
	}
	if err := json.Unmarshal(body, &p); err != nil {
		return p, fmt.Errorf("decode profile: %w: %s", err, body)
	}
	return p, nil
}

// outcomes records what analytics-go reports for each message.
type outcomes struct {
	mu       sync.Mutex
	sent     int
	failures []error
}

func (o *outcomes) Success(analytics.Message) { o.mu.Lock(); o.sent++; o.mu.Unlock() }
func (o *outcomes) Failure(_ analytics.Message, err error) {
	o.mu.Lock()
	o.failures = append(o.failures, err)
	o.mu.Unlock()
}

// nodeProject is this folder, once Node.js and the pinned SDK are installed. Under -short the test
// is skipped; otherwise it fails with what to do when they are not installed.
func nodeProject(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("runs the npm SDKs against the local servers, so -short skips it: " +
			"`make test` installs the SDKs (`make node-deps`), starts the servers and runs every test")
	}
	if _, err := exec.LookPath("node"); err != nil {
		t.Fatalf("node is not on PATH: install Node.js >= 20 (%v)", err)
	}
	dir, err := filepath.Abs(".")
	require.NoError(t, err)
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@segment", "analytics-node", "package.json")); err != nil {
		t.Fatalf("@segment/analytics-node is not installed in %s: run make node-deps (%v)", dir, err)
	}
	return dir
}

// lastLine is the last non-empty line of out.
func lastLine(out []byte) []byte {
	lines := bytes.Split(bytes.TrimSpace(out), []byte("\n"))
	return lines[len(lines)-1]
}
