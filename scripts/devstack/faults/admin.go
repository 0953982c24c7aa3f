package faults

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// maxRuleBytes bounds a rule posted to the admin API.
const maxRuleBytes = 64 << 10

// Validate says what is wrong with a rule, if anything.
func (r Rule) Validate() error {
	var errs []error
	switch r.Service {
	case "", "kinesis", "dynamodb", "sqs", "firehose":
	default:
		errs = append(errs, fmt.Errorf("service %q: want kinesis, dynamodb, sqs, firehose or none", r.Service))
	}
	if r.Probability < 0 || r.Probability > 1 {
		errs = append(errs, fmt.Errorf("probability %v: want 0 to 1", r.Probability))
	}
	if r.FailRecords < 0 || r.FailRecords > 1 {
		errs = append(errs, fmt.Errorf("failRecords %v: want 0 to 1", r.FailRecords))
	}
	if r.After < 0 || r.Times < 0 || r.For < 0 || r.Latency < 0 {
		errs = append(errs, errors.New("after, times, for and latency cannot be negative"))
	}
	if e := r.Error; e != nil && (e.Code == "" || e.Status != 0 && (e.Status < 400 || e.Status > 599)) {
		errs = append(errs, errors.New("error: want a code and, if any, a status from 400 to 599"))
	}
	if len(r.Name) > 100 || len(r.BodyContains) > 1000 {
		errs = append(errs, errors.New("name (100) or bodyContains (1000) too long"))
	}
	return errors.Join(errs...)
}

// Admin serves the rules over HTTP, for people poking a running stack:
//
//	GET    /faults         the rules, with how often each matched and fired
//	POST   /faults         add a rule (a JSON Rule; durations as "250ms"); 201 {"name": …}
//	DELETE /faults         remove every rule
//	DELETE /faults/{name}  remove one rule
func (in *Injector) Admin() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /faults", func(w http.ResponseWriter, _ *http.Request) {
		reply(w, http.StatusOK, in.Rules())
	})
	mux.HandleFunc("POST /faults", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, maxRuleBytes+1))
		if err != nil || len(body) > maxRuleBytes {
			reply(w, http.StatusRequestEntityTooLarge, map[string]string{"error": "a rule is at most 64 KB"})
			return
		}
		var rule Rule
		if err := json.Unmarshal(body, &rule); err != nil {
			reply(w, http.StatusBadRequest, map[string]string{"error": "not a rule: " + err.Error()})
			return
		}
		if err := rule.Validate(); err != nil {
			reply(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		reply(w, http.StatusCreated, map[string]string{"name": in.Add(rule)})
	})
	mux.HandleFunc("DELETE /faults", func(w http.ResponseWriter, _ *http.Request) {
		in.Clear()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("DELETE /faults/{name}", func(w http.ResponseWriter, r *http.Request) {
		if !in.Remove(r.PathValue("name")) {
			reply(w, http.StatusNotFound, map[string]string{"error": "no such rule"})
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	return mux
}

func reply(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
