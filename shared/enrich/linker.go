package enrich

import (
	"strconv"
	"strings"
	"time"
)

// LinkerParam is the query parameter of the cross-domain linker: the tracker decorates links to
// the site's other domains with "_dl=<anonymousId>.<expiry, unix seconds>" so that the visitor
// keeps one identity across them.
const LinkerParam = "_dl"

// MaxLinkerLifetime is the longest a linker may claim to stay valid. Linkers are made to expire
// within minutes; one that claims more was not made by the tracker and is ignored.
const MaxLinkerLifetime = time.Hour

// maxLinkerID bounds the anonymous id a linker carries.
const maxLinkerID = 128

// LinkerID returns the anonymous id carried by the linker parameter of pageURL when the linker is
// well formed and has not expired at now (and does not claim to live longer than
// MaxLinkerLifetime); "" otherwise. The id is made of letters, digits, "-" and "_".
func LinkerID(pageURL string, now time.Time) string {
	return linkerID(query(pageURL), now)
}

// linkerID is LinkerID from the parameters of the page URL's query (query).
func linkerID(q map[string]string, now time.Time) string {
	v := q[LinkerParam]
	id, exp, ok := strings.Cut(v, ".")
	if !ok || id == "" || len(id) > maxLinkerID || strings.IndexFunc(id, notIDRune) >= 0 {
		return ""
	}
	if exp == "" || len(exp) > 12 || strings.Trim(exp, "0123456789") != "" {
		return ""
	}
	secs, err := strconv.ParseInt(exp, 10, 64)
	if err != nil {
		return ""
	}
	expiry := time.Unix(secs, 0)
	if expiry.Before(now) || expiry.After(now.Add(MaxLinkerLifetime)) {
		return ""
	}
	return id
}

func notIDRune(r rune) bool {
	return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_')
}
