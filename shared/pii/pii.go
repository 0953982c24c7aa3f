// Package pii normalises and hashes the personal data that events carry (email addresses, phone
// numbers), so that the raw values need not travel any further than the collection endpoint while
// the hashes still match the ones ad platforms and CRMs compute from their own copies; and it
// finds personal data wherever it hides in a JSON document and hashes or redacts it there
// (Classify says what a member's name announces, RedactJSON and Redact apply the rules written in
// redact.go, RedactText does it for free text such as a reason).
//
// Normalisation (the standard form, hashed into "email_sha256" and "phone_sha256"):
//
//   - Email: Unicode NFKC (full-width and other compatibility forms become their plain letters,
//     so "ａｎｎ＠ｅｘａｍｐｌｅ．ｃｏｍ" is "ann@example.com"), surrounding white space removed,
//     lower-cased, the trailing dot of a fully qualified domain removed ("ann@example.com."), and
//     a domain written in Unicode turned into its ASCII (punycode) form by IDNA 2008 with UTS #46
//     lookup mapping, non-transitional ("ann@bücher.example" and "ann@xn--bcher-kva.example" are
//     one address). An all-ASCII address is only trimmed and lower-cased (and loses a trailing dot),
//     as before those rules existed, so identifiers hashed then still match; its domain is not
//     checked by IDNA, which would refuse some that were hashed then ("under_score.example"). "  Ann.Lee+news@GMail.com " becomes
//     "ann.lee+news@gmail.com": dots and "+tags" are part of the address (a provider decides what
//     they mean, and most keep them distinct), so the standard form keeps them; only the Google
//     variant below drops them, as Google does for its own addresses. A value that is not
//     local@domain (exactly one "@", both parts non-empty, no white space or control character
//     inside, at most MaxEmailBytes, a Unicode domain that IDNA accepts) is not an email address
//     and is not hashed.
//   - Phone: to E.164, after NFKC (full-width digits are digits). Spaces, dashes, dots, slashes and parentheses are removed; a leading "00"
//     (international call prefix) becomes "+". A number with "+" keeps its country code. A
//     number without one gets the source's default country calling code when one is configured,
//     after dropping one national trunk "0" (except for Italy, +39, whose numbers keep it);
//     without a default it stays as bare digits. "+44 (0)20"-style numbers are written by
//     dropping the "(0)". The result must have 7 to 15 digits; anything else (letters,
//     extensions, too few or too many digits) is not a phone number and is not hashed.
//
// Destinations that normalise differently get their own variant, stored only when it differs
// from the standard form, under the standard key plus "_" and the variant's name:
//
//   - Google (Customer Match, enhanced conversions): emails as above, but for gmail.com and
//     googlemail.com addresses the dots and any "+suffix" of the local part are removed
//     ("ann.lee+news@gmail.com" → "annlee@gmail.com"); phones in E.164 with the "+" (the
//     standard form, so no separate phone variant).
//   - Meta (Conversions API): emails trimmed and lower-cased only (the standard form); phones as
//     digits with the country code but without the "+" ("+447700900123" → "447700900123").
//
// Hashes are SHA-256 of the UTF-8 bytes of the normalised string, lower-case hexadecimal.
package pii

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/idna"
	"golang.org/x/text/unicode/norm"
)

// Variant is a destination that normalises personal data its own way ("" is the standard form).
type Variant string

// Variants known to the package.
const (
	Standard Variant = ""
	Google   Variant = "google"
	Meta     Variant = "meta"
)

// variants are the destination variants hashed beside the standard form.
var variants = []Variant{Google, Meta}

// Keys of the hashes in an event's hashed map (plus "_<variant>" for a destination variant).
const (
	EmailKey = "email_sha256"
	PhoneKey = "phone_sha256"
)

// Hash is the lower-case hex SHA-256 of s.
func Hash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// MaxEmailBytes bounds an email address (RFC 5321's 254 octets of a path, with room for the
// white space and compatibility forms normalisation removes): longer values are not addresses,
// and normalising them costs nothing more.
const MaxEmailBytes = 320

// domains maps a Unicode domain to ASCII. The options are spelled out rather than taken from
// idna.Lookup, whose configuration "may change over time": a hashed identifier must not.
var domains = idna.New(idna.MapForLookup(), idna.Transitional(false), idna.BidiRule(), idna.VerifyDNSLength(true))

// NormalizeEmail returns the email address in the form variant v hashes, and false when raw is
// not an email address.
func NormalizeEmail(raw string, v Variant) (string, bool) {
	if len(raw) > 4*MaxEmailBytes {
		return "", false
	}
	s := strings.TrimSpace(raw)
	if !isASCII(s) {
		s = strings.TrimSpace(norm.NFKC.String(s))
	}
	if len(s) > MaxEmailBytes || !utf8.ValidString(s) || strings.IndexFunc(s, badInAddress) >= 0 {
		return "", false
	}
	local, domain, ok := strings.Cut(s, "@")
	if !ok || strings.Contains(domain, "@") {
		return "", false
	}
	local = strings.ToLower(local)
	if !isASCII(local) {
		local = norm.NFKC.String(local) // lower-casing may leave a compatibility form
	}
	domain = strings.TrimSuffix(domain, ".")
	if isASCII(domain) {
		domain = strings.ToLower(domain)
	} else {
		d, err := domains.ToASCII(domain)
		if err != nil {
			return "", false
		}
		domain = d
	}
	if local == "" || domain == "" || strings.IndexFunc(local, badInAddress) >= 0 {
		return "", false
	}
	if v == Google && (domain == "gmail.com" || domain == "googlemail.com") {
		local, _, _ = strings.Cut(local, "+")
		local = strings.ReplaceAll(local, ".", "")
		if local == "" {
			return "", false
		}
	}
	return local + "@" + domain, true
}

// badInAddress tells the runes an email address cannot hold unquoted: white space, controls and
// the replacement character of an invalid byte.
func badInAddress(r rune) bool {
	return unicode.IsSpace(r) || unicode.IsControl(r) || r == utf8.RuneError
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// NormalizePhone returns the phone number in the form variant v hashes, and false when raw is not
// a phone number. callingCode is the country calling code ("44", "1", "+49") assumed for a
// number written without one; "" when there is none.
func NormalizePhone(raw, callingCode string, v Variant) (string, bool) {
	if len(raw) > 4*MaxEmailBytes {
		return "", false
	}
	s := raw
	if !isASCII(s) {
		s = norm.NFKC.String(s)
	}
	s = strings.Replace(strings.TrimSpace(s), "(0)", "", 1)
	var b strings.Builder
	for i, r := range s {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == '+' && i == 0:
			b.WriteRune(r)
		case r == ' ' || r == '-' || r == '.' || r == '/' || r == '(' || r == ')' || r == '\u00a0':
		default:
			return "", false
		}
	}
	n := b.String()
	international := false
	switch {
	case strings.HasPrefix(n, "+"):
		n, international = n[1:], true
	case strings.HasPrefix(n, "00"):
		n, international = n[2:], true
	}
	if !international {
		if cc := strings.TrimPrefix(strings.TrimSpace(callingCode), "+"); cc != "" && digitsOnly(cc) {
			if cc != "39" {
				n = strings.TrimPrefix(n, "0")
			}
			n, international = cc+n, true
		}
	}
	if len(n) < 7 || len(n) > 15 || !digitsOnly(n) {
		return "", false
	}
	if !international || v == Meta {
		return n, true
	}
	return "+" + n, true
}

func digitsOnly(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

// HashEmail returns the hashes of an email address by key: EmailKey for the standard form, plus
// EmailKey_<variant> for each destination whose form differs. Nil when raw is not an address.
func HashEmail(raw string) map[string]string {
	return hashAll(EmailKey, func(v Variant) (string, bool) { return NormalizeEmail(raw, v) })
}

// HashPhone returns the hashes of a phone number by key, like HashEmail; callingCode as for
// NormalizePhone.
func HashPhone(raw, callingCode string) map[string]string {
	return hashAll(PhoneKey, func(v Variant) (string, bool) { return NormalizePhone(raw, callingCode, v) })
}

func hashAll(key string, normalize func(Variant) (string, bool)) map[string]string {
	std, ok := normalize(Standard)
	if !ok {
		return nil
	}
	out := map[string]string{key: Hash(std)}
	for _, v := range variants {
		if n, ok := normalize(v); ok && n != std {
			out[key+"_"+string(v)] = Hash(n)
		}
	}
	return out
}
