package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"
)

// Definitions are the computed traits and audiences a run is made with (-definitions): what a
// shop's marketers keep defined weighs on every profile write (their state is on the profile),
// so a run with them measures that weight. They are defined before the run and removed after it.
type Definitions struct {
	Traits    []json.RawMessage `json:"traits"`
	Audiences []json.RawMessage `json:"audiences"`
}

// ReadDefinitions reads a file of {"traits": […], "audiences": […]}.
func ReadDefinitions(path string) (Definitions, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return Definitions{}, err
	}
	var d Definitions
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d); err != nil {
		return Definitions{}, fmt.Errorf("%s: %w", path, err)
	}
	return d, nil
}

// Define puts every definition through the profile API (traits first: audiences read them) and
// returns what removes them again (audiences first), which the run calls whatever its outcome.
func (d Definitions) Define(ctx context.Context, t Target) (remove func(), err error) {
	type def struct{ path, id string }
	var defined []def
	remove = func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		for i := len(defined) - 1; i >= 0; i-- {
			_, _ = profileCall(ctx, t, http.MethodDelete, defined[i].path+defined[i].id, nil)
		}
	}
	for _, group := range []struct {
		path string
		defs []json.RawMessage
	}{{"/v1/traits/", d.Traits}, {"/v1/audiences/", d.Audiences}} {
		for _, raw := range group.defs {
			var head struct {
				ID string `json:"id"`
			}
			if err := json.Unmarshal(raw, &head); err != nil || head.ID == "" {
				remove()
				return nil, fmt.Errorf("a definition without an id: %.80s", raw)
			}
			if status, err := profileCall(ctx, t, http.MethodPut, group.path+head.ID, raw); err != nil || status/100 != 2 {
				remove()
				return nil, fmt.Errorf("PUT %s%s: %d %w", group.path, head.ID, status, err)
			}
			defined = append(defined, def{group.path, head.ID})
		}
	}
	return remove, nil
}

// profileCall calls the profile API with the run's profile-API key; a refusal's reason is the error.
func profileCall(ctx context.Context, t Target, method, path string, body []byte) (int, error) {
	req, err := http.NewRequestWithContext(ctx, method, t.API+path, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+t.ProfileKey)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	reason, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
	if resp.StatusCode/100 != 2 {
		return resp.StatusCode, fmt.Errorf("%s", bytes.TrimSpace(reason))
	}
	return resp.StatusCode, nil
}
