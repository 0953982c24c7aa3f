package importing

import (
	"bytes"
	"encoding/json"
	"io"
	"strings"
	"testing"
)

// A spend file as the import writes it reads back; a bad line is named.
func TestReadSpend(t *testing.T) {
	rd, err := NewReader(strings.NewReader("date,channel,cost,currency,campaign_name\n2026-02-01,Paid Search,120.5,EUR,Xmas\n"),
		spec(Spend))
	if err != nil {
		t.Fatal(err)
	}
	var lines []byte
	for {
		out, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if out.Spend == nil {
			t.Fatalf("not a spend record: %+v", out.Rejected)
		}
		b, _ := json.Marshal(out.Spend)
		lines = append(append(lines, b...), '\n')
	}
	got, err := ReadSpend(bytes.NewReader(lines))
	if err != nil || len(got) != 1 || got[0].Channel != "paid search" || got[0].Cost != 120.5 || got[0].CampaignName != "Xmas" || got[0].Date != "2026-02-01" {
		t.Fatalf("read %+v, %v", got, err)
	}
	for _, bad := range []string{"{", `{"date":"1 Nov","channel":"a","currency":"EUR"}`, `{"date":"2026-11-01","currency":"EUR"}`} {
		if _, err := ReadSpend(strings.NewReader("\n" + bad + "\n")); err == nil || !strings.Contains(err.Error(), "line 2") {
			t.Errorf("%s: %v", bad, err)
		}
	}
}
