package attribution

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

const header = "path,total_conversions,total_conversion_value,total_null\n"

func TestReadPathDataForms(t *testing.T) {
	want := []Path{
		{Channels: []string{"a", "b c", "a"}, Conversions: 2, Value: 3.5, Nulls: 1},
		{Channels: []string{"d"}, Conversions: 0, Value: 0, Nulls: 4},
	}
	for name, in := range map[string]string{
		"PathData":           header + "\"a > b c > a\",2,3.5,1\n\"d\",0,0,4\n",
		"BOM, CRLF, no EOL":  "\ufeff" + strings.ReplaceAll(header, "\n", "\r\n") + "\"a > b c > a\",2,3.5,1\r\n\"d\",0,0,4",
		"quoted header":      `"path","total_conversions","total_conversion_value","total_null"` + "\na > b c > a,2,3.5,1\nd,0,0,4\n",
		"other order, case":  "Total_Null,PATH,extra,total_conversion_value,total_conversions\n1,a>b c>a,x,3.5,2\n4,\"d\",\"y,z\",0,0\n",
		"tabs, blank lines":  header + "\n  \na\t>  b c\t> a , 2 , 3.5 , 1\n\n\"d\",0,0,4\n\n",
		"quotes in a quoted": header + "\"a > b c > a\",\"2\",\"3.5\",\"1\"\n\"d\",0,0,4\n",
	} {
		got, err := ReadPathData(strings.NewReader(in))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: %+v, want %+v", name, got, want)
		}
	}
	got, err := ReadPathData(strings.NewReader("path,total_conversions\n\"x \"\"quoted\"\" > y\",3\n"))
	if err != nil || !reflect.DeepEqual(got, []Path{{Channels: []string{`x "quoted"`, "y"}, Conversions: 3}}) {
		t.Errorf("optional columns missing: %+v, %v", got, err)
	}
}

func TestReadPathDataErrors(t *testing.T) {
	long := strings.Repeat("x", MaxChannelBytes+1)
	for _, tc := range []struct{ in, want string }{
		{"", "no header line"},
		{"\n\n", "no header line"},
		{"path,total_null\n", "line 1: header \"path,total_null\" has no total_conversions column"},
		{"path,total_conversions,Path\n", "line 1: header names path twice"},
		{header + "a,1,2,3\nb,x,2,3\n", `line 3: total_conversions "x": want a finite number ≥ 0`},
		{header + "a,-1,2,3\n", `line 2: total_conversions "-1": want a finite number ≥ 0`},
		{header + "a,1,NaN,3\n", `line 2: total_conversion_value "NaN": want a finite number`},
		{header + "a,1,2,+Inf\n", `line 2: total_null "+Inf": want a finite number ≥ 0`},
		{header + "a,1,2,1e999\n", `line 2: total_null "1e999"`},
		{header + "a,,2,3\n", "line 2: total_conversions is empty"},
		{header + "a,1," + strings.Repeat("1", 65) + ",3\n", "line 2: total_conversion_value of 65 bytes, at most 64"},
		{header + "\"\",1,2,3\n", "line 2: path is empty"},
		{header + "a > > b,1,2,3\n", "line 2: path touch 2: empty channel name"},
		{header + "a >,1,2,3\n", "line 2: path touch 2: empty channel name"},
		{header + "> a,1,2,3\n", "line 2: path touch 1: empty channel name"},
		{header + "a,1,2\n", "line 2: 3 fields, the header has 4"},
		{header + "a,1,2,3,4\n", "line 2: 5 fields, the header has 4"},
		{header + "\"a > b,1,2,3\n", "line 2: field 1: quote not closed on its line"},
		{header + "\"a\"x,1,2,3\n", "line 2: field 1: text after the closing quote"},
		{header + "a\"b,1,2,3\n", "line 2: field 1: quote inside an unquoted field"},
		{header + long + ",1,2,3\n", "line 2: path touch 1: channel name of 257 bytes, at most 256"},
		{header + strings.Repeat("a>", MaxTouches) + "a,1,2,3\n", "line 2: path has 10001 touches, at most 10000"},
		{header + strings.Repeat("a", MaxLineBytes+1) + ",1,2,3\n", "line 2: longer than 1048576 bytes"},
		{header + "a > b\xff,1,2,3\n", "line 2: path touch 2: channel name \"b\\xff\" is not UTF-8"},
	} {
		_, err := ReadPathData(strings.NewReader(tc.in))
		if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
			in := tc.in
			if len(in) > 80 {
				in = in[:80] + "…"
			}
			t.Errorf("%q: err %v, want %q", in, err, tc.want)
		}
	}
}

// TestPathDataRoundTrip: writing PathData and reading it back gives the same paths, bit for bit.
func TestPathDataRoundTrip(t *testing.T) {
	paths := pathData(t)
	var buf bytes.Buffer
	if err := WritePathData(&buf, paths); err != nil {
		t.Fatal(err)
	}
	again, err := ReadPathData(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(again, paths) {
		t.Error("PathData written and read back differs")
	}
}

// FuzzReadPathData: any input gives paths within the bounds or an ErrInvalid error, never a panic;
// what is read writes back to the same paths.
//
//	go test ./shared/attribution -run '^$' -fuzz FuzzReadPathData -fuzztime 60s
func FuzzReadPathData(f *testing.F) {
	for _, seed := range []string{
		header + "\"eta > iota > alpha > eta\",1,0.244,3\n\"beta\",0,0,2\n",
		"\ufeffTotal_Null,path,total_conversions\r\n1,\"a\"\"b > c\",2\r\n",
		header + "a > > b,1,2,3\n",
		header + "\"a,1,2,3\n",
		"path,total_conversions\n x > y ,1e-3\n\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		paths, err := ReadPathData(bytes.NewReader(in))
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error without ErrInvalid: %v", err)
			}
			return
		}
		for _, p := range paths {
			if err := p.validate(); err != nil {
				t.Fatalf("read an invalid path %+v: %v", p, err)
			}
			if len(p.Channels) > MaxTouches {
				t.Fatalf("%d touches", len(p.Channels))
			}
			for _, ch := range p.Channels {
				if len(ch) > MaxChannelBytes || !utf8.ValidString(ch) || strings.ContainsAny(ch, ">\n") || strings.Trim(ch, " \t") != ch {
					t.Fatalf("channel %q", ch)
				}
			}
		}
		var buf bytes.Buffer
		if err := WritePathData(&buf, paths); err != nil {
			t.Fatal(err)
		}
		again, err := ReadPathData(&buf)
		if err != nil {
			t.Fatalf("written paths do not read back: %v\n%s", err, buf.String())
		}
		if len(again) != len(paths) || (len(paths) > 0 && !reflect.DeepEqual(again, paths)) {
			t.Fatalf("round trip: %+v, then %+v", paths, again)
		}
		for _, m := range Models() {
			if _, err := m.Run(paths, Options{}); err != nil && !errors.Is(err, ErrInvalid) {
				t.Fatalf("%s: %v", m.Name, err)
			}
		}
	})
}
