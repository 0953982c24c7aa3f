package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/infra/topology"
	"github.com/dcrm-project/dcrm/scripts/devstack/s3server"
	"github.com/dcrm-project/dcrm/shared/keystore"
	"github.com/dcrm-project/dcrm/shared/localaws"
	"github.com/dcrm-project/dcrm/shared/objectstore"
)

// keyWith is a key checker that finds every key to be one key of these scopes.
type keyWith []keystore.Scope

func (k keyWith) ProfileAPIKey(context.Context, string) (keystore.APIKey, error) {
	return keystore.APIKey{ID: "key_reports", Name: "bi", Scopes: k}, nil
}

// reportsHandler serves the report routes over a reports bucket of its own, to a reader.
func reportsHandler() (*handler, *archiveBucket) {
	b := &archiveBucket{objects: map[string][]byte{}}
	return &handler{keys: keyWith{keystore.Read}, profiles: down{}, reports: reportStore{b}, now: func() time.Time { return now }, log: quiet}, b
}

// putReport stores a period's report as the reports function does: every part, then the manifest.
func putReport(b *archiveBucket, period string) {
	dir := topology.ReportsPrefix + period + "/"
	for _, p := range reportParts {
		b.objects[dir+p.name] = []byte(partBody(period, p.name))
	}
	b.objects[dir+manifestPart] = []byte(fmt.Sprintf(`{"period":%q,"parts":["attribution.json"]}`, period))
}

// partBody is what putReport stores for a part: something of its kind that names the period.
func partBody(period, part string) string {
	switch {
	case strings.HasSuffix(part, ".json"):
		return fmt.Sprintf(`{"period":%q,"part":%q}`, period, part)
	case strings.HasSuffix(part, ".csv"):
		return "goal,period\nOrder Completed," + period + "\n"
	}
	return `<svg xmlns="http://www.w3.org/2000/svg"><style>text{font:12px sans-serif}</style><text>` + period + `</text></svg>`
}

func setLatest(b *archiveBucket, period string) {
	b.objects[topology.ReportsPrefix+"latest.json"] = []byte(fmt.Sprintf(`{"period":%q}`, period))
}

func TestParsePeriod(t *testing.T) {
	for in, want := range map[string]period{
		"2025-01-01_2025-01-31": {"2025-01-01", "2025-01-31"},
		"2025-03-07_2025-03-07": {"2025-03-07", "2025-03-07"}, // a day
		"2024-02-29_2024-03-01": {"2024-02-29", "2024-03-01"}, // a leap day
		"2024-12-01_2025-11-30": {"2024-12-01", "2025-11-30"},
	} {
		got, ok := parsePeriod(in)
		require.True(t, ok, in)
		require.Equal(t, want, got, in)
		require.Equal(t, in, got.String())
	}
	for _, in := range []string{
		"", "latest", "2025-01-01", "2025-01-01_", "_2025-01-31", "2025-01-01-2025-01-31", "2025-01-01__2025-01-31",
		"2025-01-31_2025-01-01",  // the first after the last
		"2025-02-29_2025-03-01",  // no leap day in 2025
		"2025-04-31_2025-05-01",  // April has 30 days
		"2025-13-01_2025-13-02",  // no 13th month
		"2025-00-01_2025-01-01",  // no month 0
		"2025-01-00_2025-01-01",  // no day 0
		"2025-1-01_2025-01-31",   // two digits
		"+025-01-01_2025-01-31",  // digits only
		"2025-01-01_2025-01-31 ", // nothing around
		" 2025-01-01_2025-01-31",
		"2025-01-01_2025-01-31/x",
		"2025/01/01_2025/01/31",
		"2025-01-01T00:00:00Z_2025-01-31",
		"２０２５-01-01_2025-01-31", // ASCII digits
	} {
		_, ok := parsePeriod(in)
		require.False(t, ok, "%q", in)
	}
}

// GET /v1/reports lists the periods that have a manifest, newest first by their last day and
// then their first, and the period latest.json names; limit bounds it (1 to 400, 100 by default).
func TestReportList(t *testing.T) {
	h, b := reportsHandler()
	list := func(query map[string]string) reportList {
		t.Helper()
		resp := serve(t, h, get("/v1/reports", query, "Bearer k"))
		require.Equal(t, http.StatusOK, resp.StatusCode, resp.Body)
		require.Equal(t, "application/json", resp.Headers["content-type"])
		require.Equal(t, "nosniff", resp.Headers["x-content-type-options"])
		var l reportList
		require.NoError(t, json.Unmarshal([]byte(resp.Body), &l))
		return l
	}
	require.Equal(t, reportList{Reports: []reportSummary{}}, list(nil), "none yet: latest is null")
	status, body := call(t, h, get("/v1/reports", nil, "Bearer k"))
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, map[string]any{"latest": nil, "reports": []any{}}, body)

	for _, p := range []string{"2025-01-01_2025-01-31", "2025-02-01_2025-02-28", "2025-01-15_2025-02-28", "2025-02-28_2025-02-28", "2024-12-01_2024-12-31"} {
		putReport(b, p)
	}
	setLatest(b, "2025-02-01_2025-02-28")
	// Not reports: a part without its manifest (a report half written), keys of other shapes.
	b.objects["reports/2025-03-01_2025-03-31/attribution.json"] = []byte(`{}`)
	b.objects["reports/2025-13-01_2025-13-31/manifest.json"] = []byte(`{}`)
	b.objects["reports/2025-04-01_2025-04-30/old/manifest.json"] = []byte(`{}`)
	b.objects["reports/manifest.json"] = []byte(`{}`)
	b.objects["config/goals.json"] = []byte(`{}`)

	l := list(nil)
	require.Equal(t, "2025-02-01_2025-02-28", *l.Latest)
	require.Equal(t, []reportSummary{
		{"2025-02-28_2025-02-28", "2025-02-28", "2025-02-28"},
		{"2025-02-01_2025-02-28", "2025-02-01", "2025-02-28"},
		{"2025-01-15_2025-02-28", "2025-01-15", "2025-02-28"},
		{"2025-01-01_2025-01-31", "2025-01-01", "2025-01-31"},
		{"2024-12-01_2024-12-31", "2024-12-01", "2024-12-31"},
	}, l.Reports)
	require.Equal(t, l.Reports[:2], list(map[string]string{"limit": "2"}).Reports)
	require.Equal(t, l.Reports[:1], list(map[string]string{"limit": "1"}).Reports)

	// A year and more of daily reports: 100 by default, 400 at most.
	day := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 450 {
		d := day.AddDate(0, 0, i).Format(time.DateOnly)
		putReport(b, d+"_"+d)
	}
	l = list(nil)
	require.Len(t, l.Reports, defaultReports)
	require.Equal(t, "2025-03-25_2025-03-25", l.Reports[0].Period, "the newest daily report")
	require.Len(t, list(map[string]string{"limit": "400"}).Reports, maxReports)

	for _, bad := range []string{"0", "401", "-1", "", "ten", "1.5", " 5", "1e2", "99999999999999999999"} {
		status, body := call(t, h, get("/v1/reports", map[string]string{"limit": bad}, "Bearer k"))
		require.Equal(t, http.StatusBadRequest, status, bad)
		require.Equal(t, "limit must be a whole number from 1 to 400", body["error"], bad)
	}
	status, body = call(t, h, get("/v1/reports", map[string]string{"period": "latest"}, "Bearer k"))
	require.Equal(t, http.StatusBadRequest, status)
	require.Equal(t, `unknown parameter "period": use limit`, body["error"])
}

// GET /v1/reports/{period} answers the manifest as stored; latest is the period latest.json
// names; a period that is not one is a 400 saying the format, a report not there a 404.
func TestReportManifest(t *testing.T) {
	h, b := reportsHandler()
	status, body := call(t, h, get("/v1/reports/latest", nil, "Bearer k"))
	require.Equal(t, http.StatusNotFound, status)
	require.Equal(t, "no report for period latest: none has been made yet; GET /v1/reports lists them", body["error"])

	putReport(b, "2025-01-01_2025-01-31")
	putReport(b, "2025-02-01_2025-02-28")
	setLatest(b, "2025-01-01_2025-01-31") // not the newest: latest.json decides
	for path, want := range map[string]string{
		"/v1/reports/latest":                "2025-01-01_2025-01-31",
		"/v1/reports/2025-02-01_2025-02-28": "2025-02-01_2025-02-28",
	} {
		resp := serve(t, h, get(path, nil, "Bearer k"))
		require.Equal(t, http.StatusOK, resp.StatusCode, path)
		require.Equal(t, "application/json", resp.Headers["content-type"])
		require.Equal(t, "nosniff", resp.Headers["x-content-type-options"])
		require.Equal(t, "no-store", resp.Headers["cache-control"])
		require.False(t, resp.IsBase64Encoded)
		require.Equal(t, string(b.objects[topology.ReportsPrefix+want+"/manifest.json"]), resp.Body, "as stored")
	}

	status, body = call(t, h, get("/v1/reports/2025-03-01_2025-03-31", nil, "Bearer k"))
	require.Equal(t, http.StatusNotFound, status)
	require.Equal(t, "no report for period 2025-03-01_2025-03-31; GET /v1/reports lists them", body["error"])

	for _, bad := range []string{"2025-01-31_2025-01-01", "2025-02-30_2025-03-01", "2025-01", "Latest", "newest", "2025-01-01_2025-01-31.json"} {
		status, body := call(t, h, get("/v1/reports/"+bad, nil, "Bearer k"))
		require.Equal(t, http.StatusBadRequest, status, bad)
		require.Equal(t, periodFormat, body["error"], bad)
		require.Contains(t, body["error"], "YYYY-MM-DD_YYYY-MM-DD")
	}
}

// GET /v1/reports/{period}/{part} answers the part as stored with its content type: CSV as an
// attachment named after the part and the period, the picture with a policy that lets it run
// nothing, every answer nosniff. Any other part is a 404 naming the parts.
func TestReportParts(t *testing.T) {
	h, b := reportsHandler()
	const p = "2025-01-01_2025-01-31"
	putReport(b, p)
	setLatest(b, p)
	for _, part := range reportParts {
		for _, name := range []string{p, "latest"} {
			resp := serve(t, h, get("/v1/reports/"+name+"/"+part.name, nil, "Bearer k"))
			require.Equal(t, http.StatusOK, resp.StatusCode, part.name)
			require.Equal(t, partBody(p, part.name), resp.Body, "%s as stored", part.name)
			require.False(t, resp.IsBase64Encoded)
			want := map[string]string{"cache-control": "no-store", "x-content-type-options": "nosniff"}
			switch part.name {
			case "attribution.csv", "paths.csv", "funnel.csv":
				want["content-type"] = "text/csv; charset=utf-8"
				want["content-disposition"] = `attachment; filename="` + strings.TrimSuffix(part.name, ".csv") + "-" + p + `.csv"`
			case "picture.svg":
				want["content-type"] = "image/svg+xml"
				want["content-security-policy"] = "default-src 'none'; style-src 'unsafe-inline'"
			default:
				want["content-type"] = "application/json"
			}
			require.Equal(t, want, resp.Headers, part.name)
		}
	}

	for _, part := range []string{"manifest.json", "attribution.parquet", "ATTRIBUTION.JSON", "picture.svg.gz", "..", "x"} {
		status, body := call(t, h, get("/v1/reports/"+p+"/"+part, nil, "Bearer k"))
		require.Equal(t, http.StatusNotFound, status, part)
		require.Equal(t, "no such part of a report; the parts are attribution.json, attribution.csv, journeys.json, paths.csv, funnel.csv, "+
			"picture.svg, and GET /v1/reports/{period} answers the manifest", body["error"], part)
	}
	status, body := call(t, h, get("/v1/reports/2025-02-01_2025-02-28/paths.csv", nil, "Bearer k"))
	require.Equal(t, http.StatusNotFound, status)
	require.Equal(t, "no report for period 2025-02-01_2025-02-28, or no paths.csv in it; GET /v1/reports lists them", body["error"])
	for _, part := range []string{"paths.csv", "none.csv"} {
		status, body = call(t, h, get("/v1/reports/2025-02-30_2025-03-01/"+part, nil, "Bearer k"))
		require.Equal(t, http.StatusBadRequest, status, "the period is checked first")
		require.Equal(t, periodFormat, body["error"])
	}

	delete(b.objects, topology.ReportsPrefix+"latest.json")
	status, body = call(t, h, get("/v1/reports/latest/paths.csv", nil, "Bearer k"))
	require.Equal(t, http.StatusNotFound, status)
	require.Contains(t, body["error"], "none has been made yet")
}

// An object is answered within Lambda's response limit: as text while its escaped text fits, as
// base64 otherwise (and always when it is not UTF-8); one over 4 MiB is refused with a 502 that
// says where to read it, and logged.
func TestLargeReportObjects(t *testing.T) {
	h, b := reportsHandler()
	var logs bytes.Buffer
	h.log = slog.New(slog.NewJSONHandler(&logs, nil))
	const p = "2025-01-01_2025-01-31"
	dir := topology.ReportsPrefix + p + "/"
	putReport(b, p)
	read := func(part string) events.APIGatewayV2HTTPResponse {
		t.Helper()
		return serve(t, h, get("/v1/reports/"+p+"/"+part, nil, "Bearer k"))
	}
	limit := base64.StdEncoding.EncodedLen(maxReportObject) // what an answer's body may take

	csv := bytes.Repeat([]byte("a,b\n"), maxReportObject/4) // 4 MiB of CSV: its text fits
	b.objects[dir+"paths.csv"] = csv
	resp := read("paths.csv")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.False(t, resp.IsBase64Encoded)
	require.Equal(t, string(csv), resp.Body)

	svg := bytes.Repeat([]byte("<g/>"), maxReportObject/8) // 2 MiB whose < and > escape six times as long
	b.objects[dir+"picture.svg"] = svg
	resp = read("picture.svg")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.True(t, resp.IsBase64Encoded)
	require.Equal(t, base64.StdEncoding.EncodeToString(svg), resp.Body)
	encoded, err := json.Marshal(resp)
	require.NoError(t, err)
	require.Less(t, len(encoded), limit+1024, "within the limit, headers and all")

	b.objects[dir+"funnel.csv"] = []byte("step\n\xff\xfe\n") // not UTF-8: base64 keeps its bytes
	resp = read("funnel.csv")
	require.True(t, resp.IsBase64Encoded)
	require.Equal(t, base64.StdEncoding.EncodeToString(b.objects[dir+"funnel.csv"]), resp.Body)

	b.objects[dir+"journeys.json"] = append([]byte(`"`), bytes.Repeat([]byte("x"), maxReportObject)...)
	status, body := call(t, h, get("/v1/reports/"+p+"/journeys.json", nil, "Bearer k"))
	require.Equal(t, http.StatusBadGateway, status)
	require.Equal(t, "the journeys.json of period "+p+" is larger than the API answers (4 MiB); read it from the reports bucket", body["error"])
	require.Contains(t, logs.String(), `"level":"ERROR","msg":"stored object not served"`)
}

// latest.json that names no period is the reports function's fault: a 502 on the list and on
// latest, saying so; the reports themselves are still read by their period.
func TestBadLatest(t *testing.T) {
	h, b := reportsHandler()
	const p = "2025-01-01_2025-01-31"
	putReport(b, p)
	for _, latest := range []string{`{"period":"January"}`, `not json`, `{}`, `{"period":"` + strings.Repeat("x", maxLatest) + `"}`} {
		b.objects[topology.ReportsPrefix+"latest.json"] = []byte(latest)
		for _, path := range []string{"/v1/reports", "/v1/reports/latest", "/v1/reports/latest/paths.csv"} {
			status, body := call(t, h, get(path, nil, "Bearer k"))
			require.Equal(t, http.StatusBadGateway, status, path)
			require.Equal(t, "reports/latest.json does not name a period; the reports function's next run writes it again", body["error"])
		}
		resp := serve(t, h, get("/v1/reports/"+p+"/paths.csv", nil, "Bearer k"))
		require.Equal(t, http.StatusOK, resp.StatusCode)
	}
}

// The reports bucket unavailable is a 503 to repeat after Retry-After, and an error logged.
func TestReportsUnavailable(t *testing.T) {
	h, b := reportsHandler()
	var logs bytes.Buffer
	h.log = slog.New(slog.NewJSONHandler(&logs, nil))
	putReport(b, "2025-01-01_2025-01-31")
	b.fail = errors.New("SlowDown: please reduce your request rate")
	for _, path := range []string{"/v1/reports", "/v1/reports/latest", "/v1/reports/2025-01-01_2025-01-31", "/v1/reports/2025-01-01_2025-01-31/picture.svg"} {
		resp := serve(t, h, get(path, nil, "Bearer k"))
		require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, path)
		require.Equal(t, "5", resp.Headers["retry-after"])
		require.JSONEq(t, `{"error":"reports are unavailable right now; try again"}`, resp.Body)
	}
	require.Equal(t, 4, strings.Count(logs.String(), "SlowDown"), "each failure logged with its cause")
}

// The report routes need the read scope: a key without it is refused, whatever the report.
func TestReportsNeedRead(t *testing.T) {
	h, b := reportsHandler()
	putReport(b, "2025-01-01_2025-01-31")
	h.keys = keyWith{keystore.Export, keystore.Erase, keystore.Consent, keystore.Split}
	for _, path := range []string{"/v1/reports", "/v1/reports/latest", "/v1/reports/2025-01-01_2025-01-31/paths.csv", "/v1/reports/x/y"} {
		status, body := call(t, h, get(path, nil, "Bearer k"))
		require.Equal(t, http.StatusForbidden, status, path)
		require.Contains(t, body["error"], `lacks the "read" scope`, path)
	}
	status, _ := call(t, h, get("/v1/reports", nil, ""))
	require.Equal(t, http.StatusUnauthorized, status)
}

// The routes over the reports bucket through S3 (the local host's S3 server, in the test's
// process), as main wires them: what is stored under reports/ is listed and read back.
func TestReportsThroughS3(t *testing.T) {
	ctx := context.Background()
	srv, err := s3server.New(t.TempDir(), s3server.Options{})
	require.NoError(t, err)
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	bucket := objectstore.Bucket{Client: localaws.Endpoints{S3: hs.URL}.S3Client(), Name: "reports"}
	_, err = bucket.Client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket.Name)})
	require.NoError(t, err)
	h := &handler{keys: keyWith{keystore.Read}, reports: reportStore{bucket}, log: quiet}

	const p, older = "2025-02-01_2025-02-28", "2025-01-01_2025-01-31"
	for _, period := range []string{older, p} {
		for _, part := range reportParts {
			require.NoError(t, bucket.Put(ctx, topology.ReportsPrefix+period+"/"+part.name, []byte(partBody(period, part.name))))
		}
		require.NoError(t, bucket.Put(ctx, topology.ReportsPrefix+period+"/manifest.json", []byte(`{"period":"`+period+`"}`)))
	}
	require.NoError(t, bucket.Put(ctx, topology.ReportsPrefix+"latest.json", []byte(`{"period":"`+p+`"}`)))

	status, body := call(t, h, get("/v1/reports", nil, "Bearer k"))
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, map[string]any{"latest": p, "reports": []any{
		map[string]any{"period": p, "from": "2025-02-01", "to": "2025-02-28"},
		map[string]any{"period": older, "from": "2025-01-01", "to": "2025-01-31"},
	}}, body)
	status, body = call(t, h, get("/v1/reports/latest", nil, "Bearer k"))
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, map[string]any{"period": p}, body)
	for _, part := range reportParts {
		resp := serve(t, h, get("/v1/reports/"+older+"/"+part.name, nil, "Bearer k"))
		require.Equal(t, http.StatusOK, resp.StatusCode, part.name)
		require.Equal(t, partBody(older, part.name), resp.Body)
		require.Equal(t, part.contentType, resp.Headers["content-type"])
	}
	status, body = call(t, h, get("/v1/reports/2024-12-01_2024-12-31/picture.svg", nil, "Bearer k"))
	require.Equal(t, http.StatusNotFound, status)
	require.Equal(t, "no report for period 2024-12-01_2024-12-31, or no picture.svg in it; GET /v1/reports lists them", body["error"])
}
