package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/dcrm-project/dcrm/scripts/devstack/usage"
)

// fetchUsage reads the local host's usage counts.
func fetchUsage(ctx context.Context, hc *http.Client, u string) (usage.Snapshot, error) {
	var s usage.Snapshot
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return s, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return s, fmt.Errorf("read usage: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return s, fmt.Errorf("read usage: %s from %s (a local host that meters usage serves it)", resp.Status, u)
	}
	return s, json.NewDecoder(resp.Body).Decode(&s)
}

// drain waits until the stream mapping has read every record put since before and stitch is idle:
// no invocation running and none begun for three looks a second apart (longer than the mapping's
// one-second batching window, during which records read wait for their invocation); or until
// timeout. It returns the usage then; each look's usage since before goes to seen.
func drain(ctx context.Context, hc *http.Client, u string, before usage.Snapshot, timeout time.Duration, seen func(usage.Snapshot)) (usage.Snapshot, bool, error) {
	end := time.Now().Add(timeout)
	var prev int64 = -1
	quiet := 0
	for {
		s, err := fetchUsage(ctx, hc, u)
		if err != nil {
			return s, false, err
		}
		d := s.Sub(before)
		seen(d)
		invocations := d.Lambda["stitch"].Invocations
		if d.Kinesis.RecordsRead >= d.Kinesis.Records && s.Lambda["stitch"].InFlight == 0 && invocations == prev {
			quiet++
		} else {
			quiet = 0
		}
		if quiet == 3 {
			return s, true, nil
		}
		prev = invocations
		if time.Now().After(end) {
			return s, false, nil
		}
		select {
		case <-ctx.Done():
			return s, false, ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// Lag is what the profile checks found.
type Lag struct {
	Latencies
	Samples  int `json:"samples"`
	Complete int `json:"complete"` // profiles that counted every event sent of their visitor
	Missing  int `json:"missing"`  // visitors without a profile
	Short    int `json:"short"`    // profiles that counted fewer events than were sent
	Over     int `json:"over"`     // profiles that counted more (an event counted twice)
	// Off lists a few visitors whose profile did not count what was sent: "id: counted/sent".
	Off []string `json:"off,omitempty"`
}

type profileView struct {
	UpdatedAt time.Time `json:"updatedAt"`
	Counts    struct {
		Events     int `json:"events"`
		Identifies int `json:"identifies"`
	} `json:"counts"`
}

// checkProfiles looks up the sampled visitors' profiles once the pipeline has drained. A visitor
// who never logs in has a profile of its own, holding its events alone: it must count every event
// of it the endpoint accepted, and its updatedAt (stitch's clock when it last wrote the profile)
// less the time the last request carrying the visitor was answered is the visitor's stitch lag.
func checkProfiles(ctx context.Context, hc *http.Client, t Target, samples []string, sent map[string]time.Time, received map[string]int) (Lag, error) {
	var lag Lag
	var lags []time.Duration
	for _, v := range samples {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.API+"/v1/profiles?anonymousId="+url.QueryEscape(v), nil)
		if err != nil {
			return lag, err
		}
		req.Header.Set("Authorization", "Bearer "+t.ProfileKey)
		resp, err := hc.Do(req)
		if err != nil {
			return lag, fmt.Errorf("look up a profile: %w", err)
		}
		var p profileView
		status := resp.StatusCode
		if status == http.StatusOK {
			err = json.NewDecoder(resp.Body).Decode(&p)
		}
		resp.Body.Close()
		lag.Samples++
		switch {
		case status == http.StatusNotFound:
			lag.Missing++
			continue
		case status != http.StatusOK || err != nil:
			return lag, fmt.Errorf("look up a profile: %d %v", status, err)
		}
		got := p.Counts.Events - p.Counts.Identifies
		switch want := received[v]; {
		case got == want:
			lag.Complete++
			lags = append(lags, max(0, p.UpdatedAt.Sub(sent[v])))
		case got < want:
			lag.Short++
		default:
			lag.Over++
		}
		if got != received[v] && len(lag.Off) < 5 {
			lag.Off = append(lag.Off, fmt.Sprintf("%s: %d/%d", v, got, received[v]))
		}
	}
	lag.Latencies = Summarise(lags)
	return lag, nil
}

// sample picks up to n visitors who never log in, spread evenly over those the run sent.
func sample(sent map[string]time.Time, received map[string]int, n int) []string {
	var all []string
	for v := range received {
		if _, ok := sent[v]; ok {
			all = append(all, v)
		}
	}
	slices.Sort(all)
	if n <= 0 || len(all) <= n {
		return all
	}
	out := make([]string, 0, n)
	for i := range n {
		out = append(out, all[i*len(all)/n])
	}
	return out
}
