package identity

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// junkWords are values that trackers, templates and broken integrations send in place of a real
// identifier. Matched case-insensitively, after trimming space.
var junkWords = []string{
	"null", "undefined", "none", "nil", "0", "-1", "anonymous", "unknown", "guest", "test",
	"[object object]", "nan", "true", "false",
}

// sharedDeviceIDs are device ids that many devices report alike (matched case-insensitively):
// the ANDROID_ID that a batch of Android 2.2 handsets all returned, and the MAC address that Android
// 6.0 and later give every app in place of the real one. As identifiers they would join strangers.
var sharedDeviceIDs = []string{"9774d56d682e549c", "02:00:00:00:00:00"}

// junkHashes are the SHA-256 hashes (hex) of the empty string and of the junk words: what a
// sender that hashes its data before sending it makes of a missing email or phone.
var junkHashes = func() map[string]string {
	m := map[string]string{}
	for _, w := range append([]string{""}, junkWords...) {
		sum := sha256.Sum256([]byte(w))
		m[hex.EncodeToString(sum[:])] = w
	}
	return m
}()

// Junk tells whether value is not a usable identifier, and why: an empty or blank value, a word
// standing for "no value" (null, undefined, none, nil, 0, -1, anonymous, unknown, guest, test,
// [object Object], NaN, true, false; in any case), a device id that many devices report alike
// (9774d56d682e549c, 02:00:00:00:00:00), an id made of one repeated character (all-zero ids such
// as the 00000000-0000-0000-0000-000000000000 of an advertising id the person withheld included;
// dashes and colons are ignored), or the SHA-256 hash of the empty string or of one of those
// words. Events carrying such a value would otherwise join every visitor who sends it into one
// profile.
func Junk(value string) (reason string, junk bool) {
	v := strings.TrimSpace(value)
	if v == "" {
		return "empty", true
	}
	lower := strings.ToLower(v)
	for _, w := range junkWords {
		if lower == w {
			return "placeholder value " + quote(v), true
		}
	}
	for _, d := range sharedDeviceIDs {
		if lower == d {
			return "device id shared by many devices " + quote(v), true
		}
	}
	if w, ok := junkHashes[lower]; ok {
		if w == "" {
			return "hash of an empty value", true
		}
		return "hash of placeholder value " + quote(w), true
	}
	if c, ok := oneCharacter(v); ok {
		if c == '0' {
			return "all-zero id", true
		}
		return "one repeated character " + quote(string(c)), true
	}
	return "", false
}

// oneCharacter reports whether v, without its dashes and colons, is one character repeated (at
// least twice), and which.
func oneCharacter(v string) (rune, bool) {
	var first rune
	n := 0
	for _, c := range v {
		if c == '-' || c == ':' {
			continue
		}
		if n > 0 && c != first {
			return 0, false
		}
		first, n = c, n+1
	}
	return first, n > 1
}

func quote(s string) string { return `"` + s + `"` }
