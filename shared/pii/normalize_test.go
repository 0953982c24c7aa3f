package pii

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// TestEmailEquivalentForms lists ways of writing one address that must hash to one identifier.
func TestEmailEquivalentForms(t *testing.T) {
	for _, group := range []struct {
		want  string
		forms []string
	}{
		{"ann@example.com", []string{
			"ann@example.com", "Ann@Example.COM", "  ANN@EXAMPLE.COM\t", "ann@example.com.", " ann@example.com. ",
			"ａｎｎ＠ｅｘａｍｐｌｅ．ｃｏｍ",             // full-width letters, at sign and dot
			"Ａｎｎ@Example.com",             // full-width capitals
			"ann@example\uff0ecom",        // a full-width dot alone
			"\u00a0ann@example.com\u3000", // no-break and ideographic spaces around it
		}},
		{"ann@xn--bcher-kva.example", []string{
			"ann@bücher.example", "ann@BÜCHER.example", "ann@bu\u0308cher.example", // composed, upper, decomposed
			"ann@xn--bcher-kva.example", "ANN@XN--BCHER-KVA.EXAMPLE", "ann@bücher.example.",
			"ann@ｂüｃｈｅｒ.example",
		}},
		{"josé@xn--e1afmkfd.com", []string{"josé@пример.com", "JOSÉ@ПРИМЕР.COM", "jose\u0301@пример.com"}},
		{"ann.lee+news@gmail.com", []string{"Ann.Lee+News@GMail.com", "ann.lee+news@gmail.com."}},
	} {
		for _, f := range group.forms {
			got, ok := NormalizeEmail(f, Standard)
			if !ok || got != group.want {
				t.Errorf("NormalizeEmail(%q) = %q, %v; want %q", f, got, ok, group.want)
			}
			if h := HashEmail(f)[EmailKey]; h != sha(group.want) {
				t.Errorf("HashEmail(%q) = %s, want the hash of %q", f, h, group.want)
			}
		}
	}
}

// TestEmailDistinctForms lists addresses that look alike but are different people, and must not
// hash alike.
func TestEmailDistinctForms(t *testing.T) {
	for _, pair := range [][2]string{
		{"ann.lee@gmail.com", "annlee@gmail.com"},     // dots are the provider's business
		{"ann+news@example.com", "ann@example.com"},   // so are +tags
		{"ann@example.com", "ann@example.co"},         // another domain
		{"ann@bücher.example", "ann@bucher.example"},  // an umlaut is not decoration
		{"ann@straße.example", "ann@strasse.example"}, // IDNA 2008: ß is a letter of its own (non-transitional)
		{"ann@example.com", "ann@sub.example.com"},    // a sub-domain
		{"anne@example.com", "ann@example.com"},       // a letter more
		{"ann@exampIe.com", "ann@example.com"},        // capital I is not l
	} {
		a, okA := NormalizeEmail(pair[0], Standard)
		b, okB := NormalizeEmail(pair[1], Standard)
		if !okA || !okB || a == b {
			t.Errorf("%q and %q normalise to %q (%v) and %q (%v); want two addresses", pair[0], pair[1], a, okA, b, okB)
		}
	}
}

// TestEmailASCIICompatible checks that plain ASCII addresses hash as they did before Unicode
// normalisation: trimmed and lower-cased, nothing else, so existing profiles still match.
func TestEmailASCIICompatible(t *testing.T) {
	old := func(raw string) string { return strings.ToLower(strings.TrimSpace(raw)) }
	for _, raw := range []string{
		"ann@example.com", " Ann.Lee+News@GMail.com ", "a_b-c.d@sub.example.co.uk", "x@localhost",
		"o'brien@example.ie", "weird..dots@example.com", "ann@under_score.example", "ann@-hyphen.example",
		"ann@xn--invalid-punycode-", "1234@192.168.0.1",
	} {
		got, ok := NormalizeEmail(raw, Standard)
		if !ok || got != old(raw) {
			t.Errorf("NormalizeEmail(%q) = %q, %v; before it was %q", raw, got, ok, old(raw))
		}
	}
}

func TestEmailNotAnAddress(t *testing.T) {
	for _, raw := range []string{
		"", "   ", "ann", "ann@", "@example.com", "a@b@example.com", "ann lee@example.com", "ann@exa mple.com",
		"ann\x00@example.com", "ann@example.com\x7f", "ann\xff@example.com", "ann@bü\u200dcher.example", // a joiner IDNA refuses
		"ann@" + strings.Repeat("a", MaxEmailBytes), strings.Repeat("ａ", 2*MaxEmailBytes) + "@example.com",
		"ann@.", "ann＠＠example.com",
	} {
		if got, ok := NormalizeEmail(raw, Standard); ok {
			t.Errorf("NormalizeEmail(%q) = %q, true; want not an address", raw, got)
		}
	}
}

func TestPhoneFullWidth(t *testing.T) {
	got, ok := NormalizePhone("＋４４ ７７００ ９００１２３", "", Standard)
	if !ok || got != "+447700900123" {
		t.Errorf("full-width phone = %q, %v", got, ok)
	}
}

// FuzzNormalizeEmail checks that normalising never panics, gives valid UTF-8, and is idempotent:
// a normalised address normalises to itself, in every variant.
func FuzzNormalizeEmail(f *testing.F) {
	for _, s := range []string{
		"Ann@Example.COM", "ａｎｎ＠ｅｘａｍｐｌｅ．ｃｏｍ", "ann@bücher.example.", "ann@xn--bcher-kva.example",
		"A.B+x@googlemail.com", "josé@пример.com", "a@b@c", "ann@ß.de", "x@\u3002", "ǅ@example.com", "ﬀ@example.com",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		for _, v := range []Variant{Standard, Google, Meta} {
			n, ok := NormalizeEmail(raw, v)
			if !ok {
				continue
			}
			if !utf8.ValidString(n) || strings.Count(n, "@") != 1 {
				t.Fatalf("NormalizeEmail(%q, %q) = %q: not one valid address", raw, v, n)
			}
			again, ok := NormalizeEmail(n, v)
			if !ok || again != n {
				t.Fatalf("NormalizeEmail(%q, %q) = %q, but that normalises to %q (%v)", raw, v, n, again, ok)
			}
		}
	})
}

// FuzzNormalizePhone: never panics, idempotent for numbers with their country code.
func FuzzNormalizePhone(f *testing.F) {
	for _, s := range []string{"+44 7700 900123", "0044-7700-900123", "07700 900123", "＋４４ ７７００", "(0)", "+"} {
		f.Add(s, "44")
	}
	f.Fuzz(func(t *testing.T, raw, cc string) {
		n, ok := NormalizePhone(raw, cc, Standard)
		if !ok || !strings.HasPrefix(n, "+") {
			return
		}
		if again, ok := NormalizePhone(n, cc, Standard); !ok || again != n {
			t.Fatalf("NormalizePhone(%q) = %q, but that normalises to %q (%v)", raw, n, again, ok)
		}
	})
}
