package archive

import (
	"embed"
	"sort"
	"strings"
)

//go:embed queries/*.sql
var queryFiles embed.FS

// SavedQuery is one of the archive's saved queries: `dcrm sql --saved NAME` runs it on the local
// archive, and the CDK app deploys it as an Athena named query. Its SQL is what both engines
// accept (README.md, Saved queries).
type SavedQuery struct {
	Name string // the file name without .sql: events_per_channel_per_day
	// Description is the comment lines the file starts with.
	Description string
	SQL         string
}

// SavedQueries are the saved queries of queries/, sorted by name.
func SavedQueries() []SavedQuery {
	entries, _ := queryFiles.ReadDir("queries") // embedded: cannot fail
	var out []SavedQuery
	for _, e := range entries {
		b, _ := queryFiles.ReadFile("queries/" + e.Name())
		q := SavedQuery{Name: strings.TrimSuffix(e.Name(), ".sql"), SQL: string(b)}
		var desc []string
		for _, line := range strings.Split(q.SQL, "\n") {
			c, ok := strings.CutPrefix(line, "--")
			if !ok {
				break
			}
			desc = append(desc, strings.TrimSpace(c))
		}
		q.Description = strings.Join(desc, " ")
		out = append(out, q)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// SavedQueryNamed returns the saved query of that name.
func SavedQueryNamed(name string) (SavedQuery, bool) {
	for _, q := range SavedQueries() {
		if q.Name == name {
			return q, true
		}
	}
	return SavedQuery{}, false
}
