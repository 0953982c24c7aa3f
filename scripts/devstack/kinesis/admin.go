package kinesis

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
)

// StreamStats is what a stream holds now, and what was done with it.
type StreamStats struct {
	Name    string `json:"name"`
	Mode    string `json:"mode"`
	Shards  int    `json:"shards"`
	Records int    `json:"records"`
	Bytes   int64  `json:"bytes"`
	Usage   Usage  `json:"usage"`
}

// Stats lists the streams with what they hold and their usage, by name.
func (s *Server) Stats() []StreamStats {
	s.mu.RLock()
	all := make([]*stream, 0, len(s.streams))
	for _, st := range s.streams {
		all = append(all, st)
	}
	s.mu.RUnlock()
	out := make([]StreamStats, 0, len(all))
	for _, st := range all {
		st.mu.Lock()
		n := 0
		for _, sh := range st.shards {
			n += len(sh.recs)
		}
		out = append(out, StreamStats{Name: st.name, Mode: st.mode, Shards: len(st.shards), Records: n, Bytes: st.bytes, Usage: st.usage})
		st.mu.Unlock()
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Sweep applies retention and the byte budget to every stream; the command calls it now and then so
// that streams nobody writes to are trimmed too.
func (s *Server) Sweep() {
	s.mu.RLock()
	all := make([]*stream, 0, len(s.streams))
	for _, st := range s.streams {
		all = append(all, st)
	}
	s.mu.RUnlock()
	now := s.now()
	for _, st := range all {
		st.mu.Lock()
		s.trim(st, now)
		st.mu.Unlock()
	}
}

// admin serves the routes under /dcrm/:
//
//	POST   /dcrm/faults       a Fault as JSON; answers {"id": n}
//	GET    /dcrm/faults       the faults in force, with their hits
//	DELETE /dcrm/faults       removes every fault
//	DELETE /dcrm/faults/{id}  removes one
//	GET    /dcrm/streams      what each stream holds, and its usage
func (s *Server) admin(w http.ResponseWriter, r *http.Request) {
	path := strings.TrimSuffix(r.URL.Path, "/")
	switch {
	case path == "/dcrm/faults" && r.Method == http.MethodPost:
		var f Fault
		dec := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&f); err != nil {
			adminError(w, http.StatusBadRequest, "read fault: "+err.Error())
			return
		}
		id, err := s.Inject(f)
		if err != nil {
			adminError(w, http.StatusBadRequest, err.Error())
			return
		}
		adminJSON(w, map[string]int{"id": id})
	case path == "/dcrm/faults" && r.Method == http.MethodGet:
		adminJSON(w, s.Faults())
	case path == "/dcrm/faults" && r.Method == http.MethodDelete:
		s.ClearFaults()
		w.WriteHeader(http.StatusNoContent)
	case strings.HasPrefix(path, "/dcrm/faults/") && r.Method == http.MethodDelete:
		id, err := strconv.Atoi(strings.TrimPrefix(path, "/dcrm/faults/"))
		if err != nil || !s.RemoveFault(id) {
			adminError(w, http.StatusNotFound, "no fault of that id")
			return
		}
		w.WriteHeader(http.StatusNoContent)
	case path == "/dcrm/streams" && r.Method == http.MethodGet:
		adminJSON(w, s.Stats())
	default:
		adminError(w, http.StatusNotFound, "routes: POST|GET|DELETE /dcrm/faults, DELETE /dcrm/faults/{id}, GET /dcrm/streams")
	}
}

func adminJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func adminError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

// InjectFault adds a fault to the server at endpoint (such as "http://127.0.0.1:4568") and returns
// its id; tests in other processes use it.
func InjectFault(ctx context.Context, endpoint string, f Fault) (int, error) {
	body, err := json.Marshal(f)
	if err != nil {
		return 0, err
	}
	var out struct{ ID int }
	if err := adminCall(ctx, http.MethodPost, endpoint+"/dcrm/faults", body, &out); err != nil {
		return 0, fmt.Errorf("inject fault: %w", err)
	}
	return out.ID, nil
}

// ClearFaults removes every fault from the server at endpoint.
func ClearFaults(ctx context.Context, endpoint string) error {
	if err := adminCall(ctx, http.MethodDelete, endpoint+"/dcrm/faults", nil, nil); err != nil {
		return fmt.Errorf("clear faults: %w", err)
	}
	return nil
}

// ListFaults returns the faults in force on the server at endpoint, with their hits.
func ListFaults(ctx context.Context, endpoint string) ([]FaultStatus, error) {
	var out []FaultStatus
	if err := adminCall(ctx, http.MethodGet, endpoint+"/dcrm/faults", nil, &out); err != nil {
		return nil, fmt.Errorf("list faults: %w", err)
	}
	return out, nil
}

func adminCall(ctx context.Context, method, url string, body []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%s %s: %s: %s", method, url, resp.Status, bytes.TrimSpace(b))
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}
