package activation

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Purpose is what an export's customer-match files are for, which decides who is in them.
type Purpose string

const (
	// Seed files are for targeting and look-alike seeds: members who refused marketing are left
	// out (those who never answered are in, as the CRM's other marketing treats them).
	Seed Purpose = "seed"
	// Suppression files are for leaving people out of a campaign: everyone is in, whatever their
	// consent, as a suppression list that missed someone would show them the ad it should not.
	Suppression Purpose = "suppression"
	// All writes both: the seed files and the suppression files.
	All Purpose = "all"
)

// ParsePurpose reads a purpose; "" is Seed.
func ParsePurpose(s string) (Purpose, error) {
	switch p := Purpose(s); p {
	case "":
		return Seed, nil
	case Seed, Suppression, All:
		return p, nil
	}
	return "", fmt.Errorf("purpose %q: want seed, suppression or all", s)
}

// The files an export writes, by name. Customer-match files are one column of lower-case SHA-256
// hex under the header the platform's upload names that column by: Google Ads Customer Match
// ("Email", "Phone") and Meta custom audiences from a customer list ("email"); functions/profiles'
// README cites the platforms' rules.
const (
	MembersCSV   = "members.csv"
	MembersJSONL = "members.jsonl"
	GoogleEmail  = "google-email.csv"
	GooglePhone  = "google-phone.csv"
	MetaEmail    = "meta-email.csv"
)

// CustomerMatch is a customer-match file: its name (without the purpose's prefix), its header and
// which hashes it holds.
type CustomerMatch struct {
	Name   string
	Header string
	Phone  bool // phones rather than emails
}

// CustomerMatches are the customer-match files an export writes for each purpose. There is no
// Meta phone file: Meta hashes phone numbers as digits without the "+", and dcrm keeps only the
// hash of the E.164 form with it (package pii's standard form), which Meta would not match.
var CustomerMatches = []CustomerMatch{
	{GoogleEmail, "Email", false},
	{GooglePhone, "Phone", true},
	{MetaEmail, "email", false},
}

// MembersHeader is the header of members.csv; JSON Lines members carry the same names.
var MembersHeader = []string{"profileId", "userId", "emailSha256", "phoneSha256", "since", "marketingConsent"}

// Row is a member as members.jsonl writes it (and the members route answers it).
type Row struct {
	ProfileID string   `json:"profileId"`
	UserID    string   `json:"userId,omitempty"`
	Emails    []string `json:"emailSha256,omitempty"`
	Phones    []string `json:"phoneSha256,omitempty"`
	Since     string   `json:"since"`
	Marketing string   `json:"marketingConsent"`
}

// RowOf is m as a row; consent Unknown reads "unknown".
func RowOf(m Member) Row {
	consent := m.Marketing
	if consent == Unknown {
		consent = "unknown"
	}
	return Row{ProfileID: m.ProfileID, UserID: m.UserID, Emails: m.Emails, Phones: m.Phones, Since: m.Since.UTC().Format(time.RFC3339), Marketing: consent}
}

// Stream writes the files of an export a member at a time, each into a buffer of its own that
// the caller takes from when it likes (a part of a multipart upload once a buffer holds enough),
// so that an export of any size holds in memory only what it has not handed on yet. An export
// carried on by another invocation starts a stream without headers and gives it back, per file,
// the bytes the last one had not handed on (Resume).
type Stream struct {
	purpose Purpose
	names   []string
	bufs    map[string]*bytes.Buffer
	rows    map[string]int // rows added by this stream, by file name
	csv     *csv.Writer    // writes into bufs[MembersCSV]
}

// NewStream starts the files of an export for purpose p, with their headers when headers is
// true (false: the files were begun by an earlier stream, and their headers written there).
func NewStream(p Purpose, headers bool) *Stream {
	s := &Stream{purpose: p, bufs: map[string]*bytes.Buffer{}, rows: map[string]int{}}
	s.names = []string{MembersCSV, MembersJSONL}
	for _, prefix := range s.prefixes() {
		for _, cm := range CustomerMatches {
			s.names = append(s.names, prefix+cm.Name)
		}
	}
	for _, n := range s.names {
		s.bufs[n] = &bytes.Buffer{}
	}
	s.csv = csv.NewWriter(s.bufs[MembersCSV])
	if headers {
		_ = s.csv.Write(MembersHeader)
		s.csv.Flush()
		for _, prefix := range s.prefixes() {
			for _, cm := range CustomerMatches {
				s.bufs[prefix+cm.Name].WriteString(cm.Header + "\n")
			}
		}
	}
	return s
}

// Names are the export's files, in the order a manifest lists them: members.csv, members.jsonl,
// then the customer-match files.
func (s *Stream) Names() []string { return slices.Clone(s.names) }

// prefixes are the customer-match files' name prefixes of the export's purpose.
func (s *Stream) prefixes() []string {
	switch s.purpose {
	case Suppression:
		return []string{"suppression-"}
	case All:
		return []string{"seed-", "suppression-"}
	}
	return []string{"seed-"}
}

// Resume puts back the bytes of file name that an earlier stream had not handed on, before
// anything this one adds. It is for a stream just started.
func (s *Stream) Resume(name string, pending []byte) error {
	b, ok := s.bufs[name]
	if !ok {
		return fmt.Errorf("resume %s: not a file of a %s export", name, s.purpose)
	}
	if b.Len() > 0 {
		return fmt.Errorf("resume %s: the stream has written to it already", name)
	}
	b.Write(pending)
	return nil
}

// Add writes a member to every file it belongs in.
func (s *Stream) Add(m Member) error {
	r := RowOf(m)
	row := []string{r.ProfileID, r.UserID, strings.Join(r.Emails, ";"), strings.Join(r.Phones, ";"), r.Since, r.Marketing}
	for i, cell := range row {
		row[i] = SafeCell(cell)
	}
	if err := s.csv.Write(row); err != nil {
		return fmt.Errorf("write members.csv: %w", err)
	}
	s.csv.Flush()
	if err := s.csv.Error(); err != nil {
		return fmt.Errorf("write members.csv: %w", err)
	}
	s.rows[MembersCSV]++
	line, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("write members.jsonl: %w", err)
	}
	s.bufs[MembersJSONL].Write(line)
	s.bufs[MembersJSONL].WriteByte('\n')
	s.rows[MembersJSONL]++
	for _, prefix := range s.prefixes() {
		if prefix == "seed-" && m.Marketing == Denied {
			continue
		}
		for _, cm := range CustomerMatches {
			hashes := m.Emails
			if cm.Phone {
				hashes = m.Phones
			}
			for _, h := range hashes {
				if !IsHash(h) { // never anything but a hash in a customer-match file
					continue
				}
				s.bufs[prefix+cm.Name].WriteString(h + "\n")
				s.rows[prefix+cm.Name]++
			}
		}
	}
	return nil
}

// Pending is how many bytes of file name the stream holds, not yet taken.
func (s *Stream) Pending(name string) int { return s.bufs[name].Len() }

// Take hands on the bytes of file name the stream holds, which it then no longer holds.
func (s *Stream) Take(name string) []byte {
	b := s.bufs[name]
	out := bytes.Clone(b.Bytes())
	b.Reset()
	return out
}

// Rows is how many rows of file name this stream added (headers not counted).
func (s *Stream) Rows(name string) int { return s.rows[name] }

// Files builds the files of one export whole, in memory: a Stream whose buffers are taken at the
// end.
type Files struct{ s *Stream }

// NewFiles starts the files of an export for purpose p.
func NewFiles(p Purpose) *Files { return &Files{NewStream(p, true)} }

// Add writes a member to every file it belongs in.
func (f *Files) Add(m Member) error { return f.s.Add(m) }

// SafeCell is a CSV cell as a spreadsheet may open it without running it: one that begins with
// "=", "+", "-", "@", a tab or a carriage return (which a spreadsheet reads as a formula) is
// written with a leading "'", as OWASP's CSV injection guidance says. A user id is whatever a
// sender called identify with, so members.csv may hold "=HYPERLINK(…)"; the JSON Lines file keeps
// the value as it is.
func SafeCell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// File is one finished file: its name, body and rows (the header not counted).
type File struct {
	Name string
	Body []byte
	Rows int
}

// Finish returns the files: members.csv, members.jsonl, then the customer-match files.
func (f *Files) Finish() ([]File, error) {
	var out []File
	for _, n := range f.s.names {
		out = append(out, File{n, f.s.Take(n), f.s.Rows(n)})
	}
	return out, nil
}

// IsHash tells whether s is a SHA-256 in lower-case hex, as customer-match files take it.
func IsHash(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
