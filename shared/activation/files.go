package activation

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
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

// Files builds the files of one export, a member at a time, in memory.
type Files struct {
	purpose Purpose
	csv     *csv.Writer
	csvBuf  bytes.Buffer
	jsonl   bytes.Buffer
	matches map[string]*bytes.Buffer // by file name, purpose prefix included
	counts  map[string]int           // rows by file name
}

// NewFiles starts the files of an export for purpose p.
func NewFiles(p Purpose) *Files {
	f := &Files{purpose: p, matches: map[string]*bytes.Buffer{}, counts: map[string]int{}}
	f.csv = csv.NewWriter(&f.csvBuf)
	_ = f.csv.Write(MembersHeader)
	for _, prefix := range f.prefixes() {
		for _, cm := range CustomerMatches {
			b := &bytes.Buffer{}
			b.WriteString(cm.Header + "\n")
			f.matches[prefix+cm.Name] = b
		}
	}
	return f
}

// prefixes are the customer-match files' name prefixes of the export's purpose.
func (f *Files) prefixes() []string {
	switch f.purpose {
	case Suppression:
		return []string{"suppression-"}
	case All:
		return []string{"seed-", "suppression-"}
	}
	return []string{"seed-"}
}

// Add writes a member to every file it belongs in.
func (f *Files) Add(m Member) error {
	r := RowOf(m)
	row := []string{r.ProfileID, r.UserID, strings.Join(r.Emails, ";"), strings.Join(r.Phones, ";"), r.Since, r.Marketing}
	for i, cell := range row {
		row[i] = SafeCell(cell)
	}
	if err := f.csv.Write(row); err != nil {
		return fmt.Errorf("write members.csv: %w", err)
	}
	f.counts[MembersCSV]++
	line, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("write members.jsonl: %w", err)
	}
	f.jsonl.Write(line)
	f.jsonl.WriteByte('\n')
	f.counts[MembersJSONL]++
	for _, prefix := range f.prefixes() {
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
				f.matches[prefix+cm.Name].WriteString(h + "\n")
				f.counts[prefix+cm.Name]++
			}
		}
	}
	return nil
}

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
	f.csv.Flush()
	if err := f.csv.Error(); err != nil {
		return nil, fmt.Errorf("write members.csv: %w", err)
	}
	out := []File{{MembersCSV, f.csvBuf.Bytes(), f.counts[MembersCSV]}, {MembersJSONL, f.jsonl.Bytes(), f.counts[MembersJSONL]}}
	for _, prefix := range f.prefixes() {
		for _, cm := range CustomerMatches {
			out = append(out, File{prefix + cm.Name, f.matches[prefix+cm.Name].Bytes(), f.counts[prefix+cm.Name]})
		}
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
