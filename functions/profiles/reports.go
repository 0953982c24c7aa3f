package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/dcrm-project/dcrm/infra/topology"
	"github.com/dcrm-project/dcrm/shared/objectstore"
	"github.com/dcrm-project/dcrm/shared/report"
)

// The report routes serve what the reports function keeps under topology.ReportsPrefix of the
// reports bucket (functions/reports/README.md): one folder per period, and latest.json naming the
// newest.

// reportParts are the parts of a report a caller may read, in the order the API names them, with
// the content type each is answered with.
var reportParts = []struct{ name, contentType string }{
	{"attribution.json", "application/json"},
	{"attribution.csv", "text/csv; charset=utf-8"},
	{"journeys.json", "application/json"},
	{"paths.csv", "text/csv; charset=utf-8"},
	{"funnel.csv", "text/csv; charset=utf-8"},
	{"picture.svg", "image/svg+xml"},
}

const (
	manifestPart = "manifest.json"
	latestKey    = topology.ReportsPrefix + "latest.json"
	// maxReportObject bounds the objects served: base64 makes 4 MiB 5.34 MiB, which stays within
	// Lambda's 6 MB response with the headers, however the object's text would be escaped.
	maxReportObject = 4 << 20
	maxLatest       = 4 << 10 // latest.json names a period
	// defaultReports and maxReports bound GET /v1/reports (a year and a month of daily reports).
	defaultReports = 100
	maxReports     = 400
	// reportsRetryAfter is the Retry-After, in seconds, of an answer to a request that met the
	// bucket unavailable (the SDK had already retried it).
	reportsRetryAfter = "5"
	// svgPolicy lets a browser show the picture and nothing else: no script, no fetch.
	svgPolicy = "default-src 'none'; style-src 'unsafe-inline'"
)

// objectReader reads the reports bucket (objectstore.Bucket).
type objectReader interface {
	Get(ctx context.Context, key string, limit int64) ([]byte, error)
	List(ctx context.Context, prefix string) ([]string, error)
}

// reportStore reads the reports in the reports bucket.
type reportStore struct {
	bucket objectReader
}

// period is a report's period: its first and last days (UTC, both included), YYYY-MM-DD.
type period struct{ from, to string }

func (p period) String() string { return report.Period(p.from, p.to) }

// parsePeriod reads YYYY-MM-DD_YYYY-MM-DD (report.ParsePeriod).
func parsePeriod(s string) (period, bool) {
	from, to, err := report.ParsePeriod(s)
	return period{from, to}, err == nil
}

const periodFormat = "period must be latest or YYYY-MM-DD_YYYY-MM-DD: the first and the last day of the report, real dates, the first not after the last"

// periods lists the periods that have a manifest, newest first (by the last day, then the first).
func (s reportStore) periods(ctx context.Context) ([]period, error) {
	keys, err := s.bucket.List(ctx, topology.ReportsPrefix)
	if err != nil {
		return nil, err
	}
	var out []period
	for _, k := range keys {
		name, ok := strings.CutSuffix(strings.TrimPrefix(k, topology.ReportsPrefix), "/"+manifestPart)
		if p, valid := parsePeriod(name); ok && valid {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b period) int { return cmp.Or(cmp.Compare(b.to, a.to), cmp.Compare(b.from, a.from)) })
	return out, nil
}

// errBadLatest is latest.json that names no period.
var errBadLatest = errors.New(latestKey + " does not name a period")

// latest is the period latest.json names; false when there is none yet.
func (s reportStore) latest(ctx context.Context) (period, bool, error) {
	body, err := s.bucket.Get(ctx, latestKey, maxLatest)
	switch {
	case errors.Is(err, objectstore.ErrNotFound):
		return period{}, false, nil
	case errors.Is(err, objectstore.ErrTooLarge):
		return period{}, false, errBadLatest
	case err != nil:
		return period{}, false, err
	}
	var l struct {
		Period string `json:"period"`
	}
	if err := json.Unmarshal(body, &l); err != nil {
		return period{}, false, errBadLatest
	}
	p, ok := parsePeriod(l.Period)
	if !ok {
		return period{}, false, errBadLatest
	}
	return p, true, nil
}

// object reads a part of a period's report (manifest.json or one of reportParts).
func (s reportStore) object(ctx context.Context, p period, part string) ([]byte, error) {
	return s.bucket.Get(ctx, topology.ReportsPrefix+p.String()+"/"+part, maxReportObject)
}

// listReports serves GET /v1/reports?limit=: the reports kept, newest first, and the latest.
func (h *handler) listReports(ctx context.Context, r request) (any, error) {
	limit, err := reportsLimit(r.QueryStringParameters)
	if err != nil {
		return nil, err
	}
	ps, err := h.reports.periods(ctx)
	if err != nil {
		return nil, reportError("", "", err)
	}
	latest, ok, err := h.reports.latest(ctx)
	if err != nil {
		return nil, reportError("", "", err)
	}
	var name *string
	if ok {
		s := latest.String()
		name = &s
	}
	return reportListOf(name, ps[:min(limit, len(ps))]), nil
}

// reportsLimit reads the one parameter of GET /v1/reports.
func reportsLimit(query map[string]string) (int, error) {
	for k := range query {
		if k != "limit" {
			return 0, badRequest(fmt.Sprintf("unknown parameter %q: use limit", k))
		}
	}
	v, ok := query["limit"]
	if !ok {
		return defaultReports, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > maxReports {
		return 0, badRequest(fmt.Sprintf("limit must be a whole number from 1 to %d", maxReports))
	}
	return n, nil
}

// getReport serves GET /v1/reports/{period}: the period's manifest as stored.
func (h *handler) getReport(ctx context.Context, r request) (any, error) {
	return h.reportObject(ctx, r.PathParameters["period"], manifestPart, "application/json")
}

// getReportPart serves GET /v1/reports/{period}/{part}: a part of the report as stored.
func (h *handler) getReportPart(ctx context.Context, r request) (any, error) {
	part := r.PathParameters["part"]
	var contentType string // none for a part that is not one
	for _, p := range reportParts {
		if p.name == part {
			contentType = p.contentType
		}
	}
	return h.reportObject(ctx, r.PathParameters["period"], part, contentType)
}

// reportObject answers an object of a period's report ("latest" resolved) with its content type;
// no content type is a part that is not one.
func (h *handler) reportObject(ctx context.Context, name, part, contentType string) (any, error) {
	p, ok := parsePeriod(name)
	if !ok && name != "latest" {
		return nil, badRequest(periodFormat)
	}
	if contentType == "" {
		var names []string
		for _, p := range reportParts {
			names = append(names, p.name)
		}
		return nil, notFound("no such part of a report; the parts are " + strings.Join(names, ", ") +
			", and GET /v1/reports/{period} answers the manifest")
	}
	if name == "latest" {
		var err error
		if p, ok, err = h.reports.latest(ctx); err != nil {
			return nil, reportError(name, part, err)
		}
		if !ok {
			return nil, notFound("no report for period latest: none has been made yet; GET /v1/reports lists them")
		}
	}
	body, err := h.reports.object(ctx, p, part)
	if err != nil {
		return nil, reportError(p.String(), part, err)
	}
	answer := stored{contentType: contentType, body: body, headers: map[string]string{}}
	switch {
	case strings.HasPrefix(contentType, "text/csv"):
		stem, _, _ := strings.Cut(part, ".")
		answer.headers["content-disposition"] = fmt.Sprintf(`attachment; filename="%s-%s.csv"`, stem, p)
	case contentType == "image/svg+xml":
		answer.headers["content-security-policy"] = svgPolicy
	}
	return answer, nil
}

// reportError is the route's error for what reading the reports returned.
func reportError(name, part string, err error) error {
	switch {
	case errors.Is(err, objectstore.ErrNotFound) && part == manifestPart:
		return notFound(fmt.Sprintf("no report for period %s; GET /v1/reports lists them", name))
	case errors.Is(err, objectstore.ErrNotFound):
		return notFound(fmt.Sprintf("no report for period %s, or no %s in it; GET /v1/reports lists them", name, part))
	case errors.Is(err, objectstore.ErrTooLarge):
		return unservable{fmt.Sprintf("the %s of period %s is larger than the API answers (%d MiB); read it from the reports bucket",
			part, name, maxReportObject>>20), err}
	case errors.Is(err, errBadLatest):
		return unservable{errBadLatest.Error() + "; the reports function's next run writes it again", err}
	}
	return retryable{"reports are unavailable right now; try again", err}
}

// notFound is a 404 saying what is not there.
type notFound string

func (n notFound) Error() string { return string(n) }

// unservable is a stored object the API cannot answer with (a 502): the reason for the caller,
// the cause for the log.
type unservable struct {
	reason string
	err    error
}

func (u unservable) Error() string { return u.reason + ": " + u.err.Error() }
func (u unservable) Unwrap() error { return u.err }

// retryable is a failure of storage the caller repeats the request after (a 503 with
// Retry-After): the reason for the caller, the cause for the log.
type retryable struct {
	reason string
	err    error
}

func (r retryable) Error() string { return r.reason + ": " + r.err.Error() }
func (r retryable) Unwrap() error { return r.err }
