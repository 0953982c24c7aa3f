package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/dcrm-project/dcrm/infra/topology"
	"github.com/dcrm-project/dcrm/shared/identity"
	"github.com/dcrm-project/dcrm/shared/keystore"
	"github.com/dcrm-project/dcrm/shared/schedule"
	"github.com/dcrm-project/dcrm/shared/source"
)

func getProfile(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("profile get", flag.ContinueOnError)
	userID := fs.String("user-id", "", "look up by user id")
	anonID := fs.String("anonymous-id", "", "look up by anonymous id")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	switch {
	case fs.NArg() == 1:
		return profileAPI(ctx, http.MethodGet, "/v1/profiles/"+url.PathEscape(fs.Arg(0)), nil, out)
	case *userID != "":
		return profileAPI(ctx, http.MethodGet, lookup(identity.UserID(*userID)), nil, out)
	case *anonID != "":
		return profileAPI(ctx, http.MethodGet, lookup(identity.AnonymousID(*anonID)), nil, out)
	}
	return errUsage
}

// lookup is the profile-API path that finds a profile by one identifier: the kind names the query
// parameter.
func lookup(id identity.ID) string {
	return "/v1/profiles?" + url.Values{string(id.Kind): {id.Value}}.Encode()
}

// profileOf runs one profile-API call on a profile id: "events" (history), "export", "erase",
// "merges" (how the merged profiles joined).
func profileOf(ctx context.Context, what string, args []string, out io.Writer) error {
	if len(args) != 1 {
		return errUsage
	}
	path := "/v1/profiles/" + url.PathEscape(args[0])
	switch what {
	case "export":
		return exportAll(ctx, path+"/export", out)
	case "events", "merges":
		return profileAPI(ctx, http.MethodGet, path+"/"+what, nil, out)
	case "erase":
		return eraseAll(ctx, path, out)
	}
	return errUsage
}

// maxEraseRequests bounds the requests of one erasure: each deletes what one invocation of the
// function can, hundreds of touchpoints.
const maxEraseRequests = 10000

// eraseAll erases a person to the end: the API answers 202 while the erasure is in progress, and
// each repeat goes on where the last stopped. It prints the last answer.
func eraseAll(ctx context.Context, path string, out io.Writer) error {
	for range maxEraseRequests {
		status, answer, err := callAPIStatus(ctx, http.MethodDelete, path, nil)
		if err != nil {
			return err
		}
		if status != http.StatusAccepted {
			return printJSON(out, answer)
		}
	}
	return fmt.Errorf("DELETE %s: still in progress after %d requests; run the command again to go on", path, maxEraseRequests)
}

// splitProfile undoes a merge: PROFILE_ID --from MERGED_ID (flags before or after the id).
func splitProfile(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("profile split", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	from := fs.String("from", "", "the profile merged into PROFILE_ID to split off")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	id := fs.Arg(0)
	if fs.NArg() > 1 {
		// The id came first: the flags follow it.
		if err := fs.Parse(fs.Args()[1:]); err != nil || fs.NArg() != 0 {
			return errUsage
		}
	}
	if id == "" || *from == "" {
		return errUsage
	}
	body, err := json.Marshal(map[string]string{"profileId": *from})
	if err != nil {
		return err
	}
	return profileAPI(ctx, http.MethodPost, "/v1/profiles/"+url.PathEscape(id)+"/split", body, out)
}

// exportAll prints the whole export of a person: the API pages the touchpoints, this follows the
// pages and prints one document.
func exportAll(ctx context.Context, path string, out io.Writer) error {
	var doc map[string]any
	var touchpoints []any
	for next := ""; ; {
		page := path
		if next != "" {
			page += "?cursor=" + url.QueryEscape(next)
		}
		answer, err := callAPI(ctx, http.MethodGet, page, nil)
		if err != nil {
			return err
		}
		doc = nil
		if err := json.Unmarshal(answer, &doc); err != nil {
			return fmt.Errorf("read export: %w", err)
		}
		tps, _ := doc["touchpoints"].([]any)
		touchpoints = append(touchpoints, tps...)
		next, _ = doc["next"].(string)
		if next == "" {
			break
		}
	}
	doc["touchpoints"] = touchpoints
	whole, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	return printJSON(out, whole)
}

// profileAPI calls the profile API and prints the JSON answer.
func profileAPI(ctx context.Context, method, path string, body []byte, out io.Writer) error {
	answer, err := callAPI(ctx, method, path, body)
	if err != nil {
		return err
	}
	return printJSON(out, answer)
}

// callAPI calls the profile API with the key of DCRM_PROFILE_API_KEY, sending body as JSON when
// there is one, and returns the answer of a success.
func callAPI(ctx context.Context, method, path string, body []byte) ([]byte, error) {
	_, answer, err := callAPIStatus(ctx, method, path, body)
	return answer, err
}

// apiAttempts is how many times a request answered 503 is sent: the profile API answers 503 when
// the profile kept changing under concurrent writes or a queue could not take its message, and
// asks for the request again (an erasure goes on where it stopped; nothing else was written).
const apiAttempts = 5

// callAPIStatus is callAPI, returning the status of the success too. A 503 is tried again, up to
// apiAttempts times, waiting a quarter of a second and doubling.
func callAPIStatus(ctx context.Context, method, path string, body []byte) (int, []byte, error) {
	wait := 250 * time.Millisecond
	for attempt := 1; ; attempt++ {
		status, answer, err := callAPIOnce(ctx, method, path, body)
		if status != http.StatusServiceUnavailable || attempt == apiAttempts {
			return status, answer, err
		}
		select {
		case <-ctx.Done():
			return status, answer, err
		case <-time.After(wait):
		}
		wait *= 2
	}
}

// callAPIOnce sends one request; on a failure status it returns that status with the error.
func callAPIOnce(ctx context.Context, method, path string, body []byte) (int, []byte, error) {
	api, key := os.Getenv("DCRM_API_URL"), os.Getenv("DCRM_PROFILE_API_KEY")
	if api == "" || key == "" {
		return 0, nil, fmt.Errorf("DCRM_API_URL and DCRM_PROFILE_API_KEY must be set (source .dcrm/local.env)")
	}
	var reqBody io.Reader
	if body != nil {
		reqBody = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(api, "/")+path, reqBody)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	client := http.Client{Timeout: 30 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, fmt.Errorf("read answer: %w", err)
	}
	if resp.StatusCode >= 300 {
		return resp.StatusCode, nil, fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(answer))
	}
	return resp.StatusCode, answer, nil
}

func printJSON(out io.Writer, body []byte) error {
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, body, "", "  "); err != nil {
		_, err = out.Write(body)
		return err
	}
	pretty.WriteByte('\n')
	_, err := pretty.WriteTo(out)
	return err
}

// functionName is the deployed name of a topology function: DCRM_FUNCTION_<NAME> when set (the
// generated name in AWS), else the topology name (what the local host registers).
func functionName(name string) string {
	if v := os.Getenv("DCRM_FUNCTION_" + strings.ToUpper(name)); v != "" {
		return v
	}
	return name
}

// runSchedule runs a schedule's function now: it sends the event the schedule sends, at the
// current time, and waits for the function's answer.
func runSchedule(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("schedule run", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	atText := fs.String("at", "", "the run's time: RFC 3339, or YYYY-MM-DD for its midnight UTC (default now)")
	names, err := parseInterleaved(fs, args)
	if err != nil || len(names) != 1 {
		return errUsage
	}
	at := time.Now()
	if *atText != "" {
		if at, err = parseRunTime(*atText); err != nil {
			return err
		}
	}
	var sc *topology.Schedule
	for _, s := range topology.Default().Schedules {
		if s.Name == names[0] {
			sc = &s
		}
	}
	if sc == nil {
		return fmt.Errorf("no schedule named %q", names[0])
	}
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return fmt.Errorf("load aws config: %w", err)
	}
	res, err := lambda.NewFromConfig(cfg).Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(functionName(sc.Function)), Payload: schedule.Payload(sc.Name, at)})
	if err != nil {
		return fmt.Errorf("invoke %s: %w", sc.Function, err)
	}
	if res.FunctionError != nil {
		return fmt.Errorf("%s failed: %s", sc.Function, res.Payload)
	}
	return printJSON(out, res.Payload)
}

// parseRunTime reads --at: an RFC 3339 time, or a date for its midnight UTC.
func parseRunTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("--at %q: want an RFC 3339 time (2026-12-01T00:30:00Z) or a date (2026-12-01)", s)
}

// seedLocal creates the local stack's credentials — a browser source, a trusted server source and a
// profile-API key — and writes them, with the resource variables, to an env file scripts can source.
func seedLocal(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("seed-local", flag.ContinueOnError)
	resources := fs.String("resources", ".dcrm/resources.env", "env file written by the local host")
	target := fs.String("out", ".dcrm/local.env", "env file to write")
	origins := fs.String("origins", "http://localhost:8080,http://127.0.0.1:8080,http://localhost:3000,http://127.0.0.1:3000", "allowed origins of the browser source")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	env, err := readEnvFile(*resources)
	if err != nil {
		return err
	}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		os.Setenv(k, v)
	}
	keys, err := openKeys(ctx)
	if err != nil {
		return err
	}
	browser, err := putSource(ctx, keys, source.Source{Name: "demo-shop (browser)", AllowedOrigins: strings.Split(*origins, ",")})
	if err != nil {
		return err
	}
	server, err := putSource(ctx, keys, source.Source{Name: "demo-shop (server)", Trusted: true})
	if err != nil {
		return err
	}
	profileKey := keystore.NewKey("pk_")
	if err := keys.PutProfileAPIKey(ctx, profileKey, "local"); err != nil {
		return err
	}
	creds := []string{"DCRM_WRITE_KEY=" + browser, "DCRM_SERVER_WRITE_KEY=" + server, "DCRM_PROFILE_API_KEY=" + profileKey}
	content := strings.Join(append(env, creds...), "\n") + "\n"
	if err := os.WriteFile(*target, []byte(content), 0o600); err != nil {
		return fmt.Errorf("write %s: %w", *target, err)
	}
	for _, c := range creds {
		fmt.Fprintln(out, c)
	}
	fmt.Fprintf(out, "wrote %s\n", *target)
	return nil
}

func readEnvFile(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read %s (is the local host running? `make up`): %w", path, err)
	}
	defer f.Close()
	var env []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") || !strings.Contains(line, "=") {
			continue
		}
		env = append(env, strings.TrimPrefix(line, "export "))
	}
	return env, sc.Err()
}
