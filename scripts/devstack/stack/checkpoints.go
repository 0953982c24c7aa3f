package stack

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/dcrm-project/dcrm/scripts/devstack/streammap"
)

// The stream mappings' checkpoints are kept between runs of the local host (Config.MappingState),
// as Lambda keeps a mapping's across restarts of its pollers: a host started again on the same
// stream goes on where it stopped, instead of reading the whole stream again from its trim horizon
// (its events found recorded, but each one read and looked up again). They are kept with the
// stream's creation time, so that a stream made again under the same name (the local servers were
// restarted) is read from its trim horizon.

// mappingState is what the state file keeps of one mapping.
type mappingState struct {
	StreamCreated time.Time         `json:"streamCreated"`
	Checkpoints   map[string]string `json:"checkpoints"` // by shard id
}

// runningMapping is a mapping of this run, with its stream's creation time.
type runningMapping struct {
	mapping       *streammap.Mapping
	streamCreated time.Time
}

// mappingKey names a mapping in the state file: its stream's physical name and its function's ARN.
func mappingKey(stream, function string) string { return stream + " -> " + function }

// readMappingState reads the state file; a missing one holds nothing.
func readMappingState(path string) (map[string]mappingState, error) {
	out := map[string]mappingState{}
	if path == "" {
		return out, nil
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return out, nil
	}
	if err != nil {
		return out, err
	}
	if err := json.Unmarshal(data, &out); err != nil {
		return map[string]mappingState{}, fmt.Errorf("%s: %w", path, err)
	}
	return out, nil
}

// resumeFrom returns the checkpoints saved for a mapping whose stream was created at created, or
// none when they were saved for another stream of that name.
func resumeFrom(saved map[string]mappingState, key string, created time.Time) map[string]string {
	st, ok := saved[key]
	if !ok || created.IsZero() || !st.StreamCreated.Equal(created) {
		return nil
	}
	return st.Checkpoints
}

// saveCheckpoints writes the mappings' checkpoints to the state file when they differ from last
// (what it wrote before), and returns what the file holds. The file is replaced whole, never left
// half written.
func (s *Stack) saveCheckpoints(last []byte) ([]byte, error) {
	state := map[string]mappingState{}
	for key, m := range s.mappings {
		state[key] = mappingState{StreamCreated: m.streamCreated, Checkpoints: m.mapping.Checkpoints()}
	}
	data, err := json.MarshalIndent(state, "", "  ")
	if err != nil || bytes.Equal(data, last) {
		return last, err
	}
	path := s.cfg.MappingState
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return last, err
	}
	tmp := path + ".new"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return last, err
	}
	if err := os.Rename(tmp, path); err != nil {
		return last, err
	}
	return data, nil
}

// keepCheckpoints saves the checkpoints every interval until ctx ends, then once more after the
// mappings have stopped (done closes then).
func (s *Stack) keepCheckpoints(ctx context.Context, interval time.Duration, done <-chan struct{}) {
	var last []byte
	save := func() {
		var err error
		if last, err = s.saveCheckpoints(last); err != nil {
			s.log.Warn("save the stream mappings' checkpoints", "file", s.cfg.MappingState, "error", err)
		}
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			save()
		case <-ctx.Done():
			<-done
			save()
			return
		}
	}
}
