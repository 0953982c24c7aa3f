package importing

import (
	"strings"
	"testing"
	"time"
)

func TestParseTimeReadsISO8601AlwaysAndTheLayoutFirst(t *testing.T) {
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Skip("no time zone data")
	}
	utc := func(s string) time.Time { t, _ := time.Parse(time.RFC3339Nano, s); return t }
	cases := []struct {
		in, layout string
		loc        *time.Location
		want       time.Time
	}{
		{"2024-05-01T13:45:30Z", "", nil, utc("2024-05-01T13:45:30Z")},
		{"2024-05-01t13:45:30z", "", nil, utc("2024-05-01T13:45:30Z")},
		{"2024-05-01T13:45:30.123456789+02:00", "", nil, utc("2024-05-01T11:45:30.123456789Z")},
		{"2024-05-01T13:45:30,5+0200", "", nil, utc("2024-05-01T11:45:30.5Z")},
		{"2024-05-01 13:45:30-05", "", nil, utc("2024-05-01T18:45:30Z")},
		{"2024-05-01T13:45", "", nil, utc("2024-05-01T13:45:00Z")},
		{"2024-05-01", "", nil, utc("2024-05-01T00:00:00Z")},
		{"2024-05-01", "", paris, utc("2024-04-30T22:00:00Z")},
		{"2024-05-01T13:45:30", "", paris, utc("2024-05-01T11:45:30Z")},
		{"2024-05-01T13:45:30Z", "", paris, utc("2024-05-01T13:45:30Z")},
		{"12/1/2010 8:26", "1/2/2006 15:04", nil, utc("2010-12-01T08:26:00Z")},
		{"2010-12-01T08:26:00Z", "1/2/2006 15:04", nil, utc("2010-12-01T08:26:00Z")}, // ISO as well
	}
	for _, c := range cases {
		got, err := ParseTime(c.in, c.layout, c.loc)
		if err != nil || !got.Equal(c.want) {
			t.Errorf("ParseTime(%q, %q) = %v, %v; want %v", c.in, c.layout, got, err, c.want)
		}
	}
	for _, bad := range []string{"2024-02-30", "2024-13-01", "2024-05-01T24:00", "2024-05-01T13", "2024-05-01T13:45:30.", "2024-05-01T13:45:30.1234567891",
		"2024-5-1", "24-05-01", "2024-05-01T13:45:30+2", "2024-05-01T13:45:30 Z", "12/1/2010 8:26", "yesterday", "20240501"} {
		if got, err := ParseTime(bad, "", nil); err == nil {
			t.Errorf("ParseTime(%q) = %v, want an error", bad, got)
		}
	}
	_, err = ParseTime("13/1/2010", "1/2/2006 15:04", nil)
	if err == nil || !strings.Contains(err.Error(), `neither in the layout "1/2/2006 15:04" nor an ISO 8601 time`) {
		t.Errorf("error = %v", err)
	}
}

func TestValuesAreCheckedAndNormalised(t *testing.T) {
	vr := &valueReader{callingCode: "44"}
	ok := []struct {
		f        fieldID
		in, want string
	}{
		{fQuantity, " -3 ", "-3"},
		{fQuantity, "2.00", "2"},
		{fPrice, "3.910", "3.91"},
		{fPrice, "1e3", "1000"},
		{fCurrency, "gbp", "GBP"},
		{fChannel, " Store ", "store"},
		{fContactType, "Email Opened", "email_opened"},
		{fContactType, "email-clicked", "email_clicked"},
		{fGranted, "Withdrawn", "false"},
		{fGranted, "YES", "true"},
		{fEmail, " Ann.Lee@Example.COM ", "ann.lee@example.com"},
		{fPhone, "07700 900123", "+447700900123"},
		{fBirthday, "1980-02-03T23:30:00-05:00", "1980-02-04"}, // the day in the import's zone (UTC)
		{fTimestamp, "2024-05-01T13:45:30+02:00", "2024-05-01T11:45:30Z"},
		{fProductName, "two\nlines", "two\nlines"},
	}
	for _, c := range ok {
		v, reason := vr.read(&fields[c.f], c.in)
		if reason != "" || v.text != c.want {
			t.Errorf("%s %q: %q, %q; want %q", fields[c.f].Name, c.in, v.text, reason, c.want)
		}
	}
	bad := []struct {
		f      fieldID
		in     string
		reason string
	}{
		{fQuantity, "1.5", `quantity "1.5" is not a whole number`},
		{fQuantity, "2000000", "quantity 2e+06 is more than 1e+06"},
		{fPrice, "-1", "price -1 is less than 0"},
		{fPrice, "1,234.50", `price "1,234.50" is not a number (digits with a decimal point, no thousands separators or currency signs)`},
		{fPrice, "NaN", `price "NaN" is not a number (digits with a decimal point, no thousands separators or currency signs)`},
		{fPrice, "0x10", `price "0x10" is not a number (digits with a decimal point, no thousands separators or currency signs)`},
		{fCurrency, "pounds", `currency "pounds" is not an ISO 4217 currency code (three letters, e.g. EUR)`},
		{fGranted, "maybe", `granted "maybe" is not true or false (yes/no, 1/0, granted/withdrawn)`},
		{fPurpose, "ads", `purpose "ads" is not one of analytics, marketing`},
		{fUserID, "null", `userId "null" is not an identifier (placeholder value "null")`},
		{fUserID, "a\x00b", "userId has a control character"},
		{fOrderID, strings.Repeat("x", 129), "order_id is longer than 128 bytes"},
		{fTier, "\xff", "tier is not UTF-8 text"},
		// Personal data is never quoted in a reason: reasons are logged and queued.
		{fEmail, "ann at example.com", "email is not an email address (local@domain)"},
		{fPhone, "call me", "phone is not a phone number (7 to 15 digits, with a + and the country code unless the import gives one)"},
		{fBirthday, "3 May 1980", "birthday is not an ISO 8601 date or time (or in the import's time layout)"},
	}
	for _, c := range bad {
		_, reason := vr.read(&fields[c.f], c.in)
		if personal(fields[c.f].Name) && reason != c.reason {
			t.Errorf("%s: reason %q, want %q (no value quoted)", fields[c.f].Name, reason, c.reason)
		}
		if !strings.HasPrefix(reason, c.reason) {
			t.Errorf("%s %q: reason %q, want %q", fields[c.f].Name, c.in, reason, c.reason)
		}
	}
	if v, reason := vr.read(&fields[fPrice], "   "); v.set || reason != "" {
		t.Errorf("blank: %+v %q, want no value", v, reason)
	}
}
