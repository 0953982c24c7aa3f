package pii

import (
	"encoding/json"
	"strings"
	"testing"
)

func redactedSha(s string) string { return HashedPrefix + sha(s) }

// TestRedactFindings replays where personal data hid from the first redaction, which knew only
// members named exactly "email" and "phone".
func TestRedactFindings(t *testing.T) {
	in := `{"type":"identify","userId":"u1",` +
		`"traits":{"Email":" Ada@Example.COM ","contact":{"email":"ada@work.example","mobile":"+44 7700 900123"},"name":"Ada Lovelace","plan":"pro"},` +
		`"context":{"Traits":{"email":"ada@example.com"},"page":{"url":"https://shop.example/?email=ada%40example.com&utm_source=x"}},` +
		`"properties":{"email":"bob@example.org","phone":"020 7946 0000","E_MAIL":"c@example.net","name":"Red Shoes","emailOptIn":true}}`
	out := string(Redact([]byte(in)))
	if !json.Valid([]byte(out)) {
		t.Fatalf("not JSON: %s", out)
	}
	for _, gone := range []string{"Ada@Example", "ada@work", "7700", "Lovelace", "ada@example", "ada%40example", "bob@", "7946", "c@example"} {
		if strings.Contains(out, gone) {
			t.Errorf("redacted document still holds %q: %s", gone, out)
		}
	}
	for _, want := range []string{
		`"Email":"` + redactedSha("ada@example.com"), `"email":"` + redactedSha("ada@work.example"), `"mobile":"[redacted]"`,
		`"name":"[redacted]"`, `"plan":"pro"`, `"url":"https://shop.example/?email=` + redactedSha("ada@example.com") + `&utm_source=x"`,
		`"phone":"[redacted]"`, `"E_MAIL":"` + redactedSha("c@example.net"), `"name":"Red Shoes"`, `"emailOptIn":true`, `"userId":"u1"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("redacted document lacks %s: %s", want, out)
		}
	}
}

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		name     string
		inTraits bool
		want     Kind
	}{
		{"email", false, Email}, {"EMAIL", false, Email}, {"Email", false, Email}, {"e_mail", false, Email}, {"e-mail", false, Email},
		{"emailAddress", false, Email}, {"email_address", false, Email}, {"workEmail", false, Email}, {"emails", false, Email},
		{"mail", false, Email}, {"E-Mail-Adresse", false, NotPersonal}, // other languages are not guessed
		{"emailOptIn", false, NotPersonal}, {"email_sha256", false, NotPersonal}, {"gmail", false, NotPersonal},
		{"phone", false, Phone}, {"Phone_Number", false, Phone}, {"mobile", false, Phone}, {"telephone", false, Phone},
		{"mobileNumber", false, Phone}, {"fax", false, Phone}, {"isMobile", false, NotPersonal},
		{"firstName", false, Name}, {"last_name", false, Name}, {"billingFirstName", false, Name}, {"surname", false, Name},
		{"name", false, NotPersonal}, {"name", true, Name}, {"displayName", true, Name}, {"product_name", true, NotPersonal},
		{"address", false, Address}, {"shippingAddress", false, Address}, {"street", false, Address}, {"postalCode", false, Address},
		{"zip", false, Address}, {"ipAddress", false, Address}, {"emailAddresses", false, Email}, {"city", false, NotPersonal},
		{"birthday", false, Sensitive}, {"date_of_birth", false, Sensitive}, {"password", false, Sensitive}, {"SSN", false, Sensitive},
		{"cardNumber", false, Sensitive}, {"comment", false, FreeText}, {"notes", false, FreeText},
		{"userId", false, Identifier}, {"anonymous_id", false, Identifier},
		{"", false, NotPersonal}, {"plan", true, NotPersonal}, {"ＥＭＡＩＬ", false, Email}, {"Ｐｈｏｎｅ＿Ｎｏ", false, Phone},
		{"Téléphone", false, Phone}, // by its ending, not its language
	} {
		if got := Classify(tc.name, tc.inTraits); got != tc.want {
			t.Errorf("Classify(%q, %v) = %s, want %s", tc.name, tc.inTraits, got, tc.want)
		}
	}
}

func TestRedactJSONRules(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		inTraits bool
		want     string
	}{
		{"nothing personal: the same bytes", "{ \"plan\" : \"pro\",\n \"n\": 1.50, \"ok\": true }", false, "{ \"plan\" : \"pro\",\n \"n\": 1.50, \"ok\": true }"},
		{"order, white space and duplicates kept", `{"b":1, "phone":"1","a":2,"phone":"2"}`, false, `{"b":1, "phone":"[redacted]","a":2,"phone":"[redacted]"}`},
		{"an array of emails", `{"emails":["A@x.example","b@y.example"]}`, false, `{"emails":["` + redactedSha("a@x.example") + `","` + redactedSha("b@y.example") + `"]}`},
		{"an email's object", `{"email":{"work":"a@x.example","verified":true}}`, false, `{"email":{"work":"` + redactedSha("a@x.example") + `","verified":true}}`},
		{"a value under an email's name that is no address", `{"email":"n/a"}`, false, `{"email":"` + redactedSha("n/a") + `"}`},
		{"a phone as a number", `{"phone":447700900123}`, false, `{"phone":"[redacted]"}`},
		{"an email as a number is no email", `{"email":12}`, false, `{"email":12}`},
		{"null, false and empty kept", `{"phone":null,"mobile":false,"email":"","fax":""}`, false, `{"phone":null,"mobile":false,"email":"","fax":""}`},
		{"an address object keeps its city", `{"address":{"street":"1 Main St","city":"Leeds","postalCode":"LS1 1AA","country":"GB"}}`, false,
			`{"address":{"street":"[redacted]","city":"Leeds","postalCode":"[redacted]","country":"GB"}}`},
		{"an address as text", `{"shipping_address":"1 Main St, Leeds"}`, false, `{"shipping_address":"[redacted]"}`},
		{"a person's name within traits", `{"name":"Ada","company":{"name":"Acme","email":"a@acme.example"}}`, true,
			`{"name":"[redacted]","company":{"name":"Acme","email":"` + redactedSha("a@acme.example") + `"}}`},
		{"traits below, anywhere", `{"x":{"traits":{"name":"Ada"}},"name":"Shoe"}`, false, `{"x":{"traits":{"name":"[redacted]"}},"name":"Shoe"}`},
		{"an address under an innocent name", `{"to":"Ann <ann@example.com>","note2":"x"}`, false, `{"to":"Ann <` + redactedSha("ann@example.com") + `>","note2":"x"}`},
		{"a file is no address", `{"image":"https://cdn.example/logo@2x.png"}`, false, `{"image":"https://cdn.example/logo@2x.png"}`},
		{"an identifier is kept as sent", `{"userId":"ann@example.com"}`, false, `{"userId":"ann@example.com"}`},
		{"escapes in names and values", `{"\u0065mail":"ann\u0040example.com","ph\u006fne":"1"}`, false,
			`{"\u0065mail":"` + redactedSha("ann@example.com") + `","ph\u006fne":"[redacted]"}`},
		{"not JSON: as it is", `{"email":"a@b.c"`, false, `{"email":"a@b.c"`},
		{"a bare string", `"ann@example.com"`, false, `"` + redactedSha("ann@example.com") + `"`},
		{"HTML not escaped", `{"comment":"<b>hi</b>","q":"a&b"}`, false, `{"comment":"[redacted]","q":"a&b"}`},
	} {
		got, changed := RedactJSON([]byte(tc.in), tc.inTraits)
		if string(got) != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, got, tc.want)
		}
		if changed != (tc.in != tc.want) {
			t.Errorf("%s: changed = %v", tc.name, changed)
		}
	}
}

func TestRedactDepth(t *testing.T) {
	deep := func(n int, leaf string) string {
		return strings.Repeat(`{"a":`, n) + leaf + strings.Repeat(`}`, n)
	}
	// Within the bound, read as usual.
	out, _ := RedactJSON([]byte(deep(MaxDepth-1, `{"phone":"1","x":"ann@example.com"}`)), false)
	if strings.Contains(string(out), `"1"`) || strings.Contains(string(out), "ann@") {
		t.Errorf("within the bound: %s", out)
	}
	// Beyond it, redacted whole.
	out, _ = RedactJSON([]byte(deep(MaxDepth+5, `{"ok":"ann@example.com"}`)), false)
	if want := deep(MaxDepth, `"[redacted]"`); string(out) != want {
		t.Errorf("beyond the bound:\n got %s\nwant %s", out, want)
	}
	// Deeper than encoding/json reads: not JSON, the text rules apply, quickly and without
	// blowing the stack.
	hostile := strings.Repeat(`[`, 200000) + `"ann@example.com"` + strings.Repeat(`]`, 200000)
	if got := string(Redact([]byte(hostile))); strings.Contains(got, "ann@") {
		t.Error("an address nested 200,000 deep survived")
	}
}

func TestRedactNotJSON(t *testing.T) {
	in := `{"traits": {"email": "bob@example.org", "Phone_Number": 4477009, "name": "Bob", "plan": "x"}, "properties": {"note": "call me on 0770`
	out := string(Redact([]byte(in)))
	for _, gone := range []string{"bob@example.org", "4477009", "Bob", "0770"} {
		if strings.Contains(out, gone) {
			t.Errorf("%q left in malformed input: %s", gone, out)
		}
	}
	if !strings.Contains(out, redactedSha("bob@example.org")) || !strings.Contains(out, `"plan": "x"`) {
		t.Errorf("malformed input redacted wrongly: %s", out)
	}
	if again := string(Redact([]byte(out))); again != out {
		t.Errorf("redacting twice changed it again:\n%s\n%s", out, again)
	}
}

func TestRedactText(t *testing.T) {
	in := `traits.email "Ann@Example.com" and ann%40example.com; logo@2x.png; @handle; a@b`
	want := `traits.email "` + redactedSha("ann@example.com") + `" and ` + redactedSha("ann@example.com") + `; logo@2x.png; @handle; a@b`
	if got := RedactText(in); got != want {
		t.Errorf("RedactText =\n%s\nwant\n%s", got, want)
	}
}

// FuzzRedact checks, for any document, that redaction never panics, keeps JSON valid, leaves no
// email address readable, and is idempotent.
func FuzzRedact(f *testing.F) {
	for _, s := range []string{
		`{"traits":{"Email":"A@x.example","contact":{"email":"b@y.example"}},"properties":{"phone":1,"emails":["c@z.example"]}}`,
		`{"address":{"street":"1","city":"c"},"x":[{"traits":{"name":"n"}}],"userId":"u@x.example"}`,
		`{"email":{"email":{"email":["a@b.cd",{"phone":"1"}]}}}`,
		`{"a":"x%40y.example","b":"logo@2x.png","c":"sha256:` + strings.Repeat("a", 64) + `"}`,
		`{"\u0065mail":"a\u0040b.example"}`, `[[[[[[[["a@b.example"]]]]]]]]`, `{"phone":"07700`, `not json a@b.example`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		out := Redact(doc)
		if json.Valid(doc) && !json.Valid(out) {
			t.Fatalf("%s redacted to %s, not JSON", doc, out)
		}
		if again := Redact(out); string(again) != string(out) {
			t.Fatalf("not idempotent:\n%s\n%s\n%s", doc, out, again)
		}
		if json.Valid(doc) {
			if got, _ := RedactJSON(out, false); string(got) != string(out) {
				t.Fatalf("RedactJSON changed a redacted document:\n%s\n%s", out, got)
			}
		}
	})
}

// BenchmarkRedactJSON measures redaction of a tracker event's context with nothing to redact, the
// usual case (read, not written), and of an identify's traits with an address and a name to replace.
func BenchmarkRedactJSON(b *testing.B) {
	for _, bc := range []struct {
		name, doc string
		inTraits  bool
	}{
		{"context", `{"library":{"name":"dcrm.js","version":"1.0.0"},"locale":"en-GB","page":{"path":"/products/trail-runner-3",` +
			`"referrer":"https://www.google.com/","title":"Trail Runner 3","url":"https://shop.example/products/trail-runner-3?utm_source=newsletter"},` +
			`"userAgent":"Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/122.0.0.0 Safari/537.36","campaign":{"name":"spring-sale","source":"newsletter"}}`, false},
		{"traits", `{"contact":{"email":"Ana.Shopper@Example.com"},"firstName":"Ana","plan":"member","address":{"city":"Leeds","street":"1 Main St"}}`, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			doc := []byte(bc.doc)
			b.ReportAllocs()
			b.SetBytes(int64(len(doc)))
			for i := 0; i < b.N; i++ {
				RedactJSON(doc, bc.inTraits)
			}
		})
	}
}

func TestRedactUpTo(t *testing.T) {
	doc := []byte(`{"email":"ann@example.com","pad":"` + strings.Repeat("x", 100) + `"}`)
	if out, cut := RedactUpTo(doc, 1000); cut || string(out) != string(Redact(doc)) {
		t.Errorf("short document: %s, %v", out, cut)
	}
	out, cut := RedactUpTo(doc, 40)
	if !cut || strings.Contains(string(out), "ann@") || !strings.Contains(string(out), redactedSha("ann@example.com")) {
		t.Errorf("cut document: %s, %v", out, cut)
	}
}

func TestRedactSize(t *testing.T) {
	big := []byte(`{"x":"` + strings.Repeat("a", MaxBytes) + `"}`)
	if out, changed := RedactJSON(big, false); !changed || string(out) != `"[redacted]"` {
		t.Errorf("a document over MaxBytes: %.40s, %v", out, changed)
	}
	if out := Redact(big); string(out) != `"[redacted]"` {
		t.Errorf("Redact of a document over MaxBytes: %.40s", out)
	}
}

// A string literal that mayHoldAddress passes over decodes to text that RedactText leaves alone.
func FuzzMayHoldAddress(f *testing.F) {
	for _, s := range []string{`"a@b.example"`, `"a\u0040b.example"`, `"x\u00254\u0030y"`, `"x%\u00340"`, `"https://x.example/?a=1\u0026b=2"`,
		`"\\u0040"`, `"plain"`, `"\u00e9\n\"%4"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, lit []byte) {
		var s string
		if json.Unmarshal(lit, &s) != nil || len(lit) < 2 || lit[0] != '"' {
			return // string literals only
		}
		if !mayHoldAddress(lit) && RedactText(s) != s {
			t.Fatalf("%s: passed over, but RedactText changes %q", lit, s)
		}
	})
}

func TestAppendQuotedIsQuote(t *testing.T) {
	for _, s := range []string{"", Redacted, HashedPrefix + strings.Repeat("a", 64), "a<b>&c", "tab\there", `q"b\`, "é", "\u2028", "\xff", "\x7f"} {
		if got := string(appendQuoted([]byte("x"), s)); got != "x"+string(quote(s)) {
			t.Errorf("%q: %s, want x%s", s, got, quote(s))
		}
	}
}
