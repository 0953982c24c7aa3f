// Package pii normalises and hashes the personal data that events carry (email addresses, phone
// numbers), so that the raw values need not travel any further than the collection endpoint while
// the hashes still match the ones ad platforms and CRMs compute from their own copies.
//
// Normalisation (the standard form, hashed into "email_sha256" and "phone_sha256"):
//
//   - Email: surrounding white space removed, lower-cased. "  Ann.Lee+news@GMail.com " becomes
//     "ann.lee+news@gmail.com". A value that is not local@domain (exactly one "@", both parts
//     non-empty, no white space inside) is not an email address and is not hashed.
//   - Phone: to E.164. Spaces, dashes, dots, slashes and parentheses are removed; a leading "00"
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

// NormalizeEmail returns the email address in the form variant v hashes, and false when raw is
// not an email address.
func NormalizeEmail(raw string, v Variant) (string, bool) {
	s := strings.ToLower(strings.TrimSpace(raw))
	local, domain, ok := strings.Cut(s, "@")
	if !ok || local == "" || domain == "" || strings.Contains(domain, "@") || strings.IndexFunc(s, unicode.IsSpace) >= 0 {
		return "", false
	}
	if v == Google && (domain == "gmail.com" || domain == "googlemail.com") {
		local, _, _ = strings.Cut(local, "+")
		local = strings.ReplaceAll(local, ".", "")
		if local == "" {
			return "", false
		}
		return local + "@" + domain, true
	}
	return s, true
}

// NormalizePhone returns the phone number in the form variant v hashes, and false when raw is not
// a phone number. callingCode is the country calling code ("44", "1", "+49") assumed for a
// number written without one; "" when there is none.
func NormalizePhone(raw, callingCode string, v Variant) (string, bool) {
	s := strings.TrimSpace(raw)
	s = strings.Replace(s, "(0)", "", 1)
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
