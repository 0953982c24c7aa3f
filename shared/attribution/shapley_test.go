package attribution

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// Two channels, solved by hand. R (conversions by exact channel set): {a} 4, {b} 2, {a,b} 3 + 3
// (order does not count). v(a) = 4, v(b) = 2, v(a,b) = 12.
// φa = ½·(v(a) − 0) + ½·(v(a,b) − v(b)) = 2 + 5 = 7; φb = ½·2 + ½·(12 − 4) = 5.
// Value: R {a} 40, {b} 20, {a,b} 30: v(a) = 40, v(b) = 20, v(a,b) = 90; φa = 20 + 35 = 55,
// φb = 10 + 25 = 35.
func TestShapleyTwoChannelsByHand(t *testing.T) {
	r, err := Shapley(parsePaths(t, "a:4:40:1", "b:2:20:0", "a > b:3:30:0", "b > a > b:3:0:9"))
	if err != nil {
		t.Fatal(err)
	}
	expectCredits(t, r, map[string][2]float64{"a": {7, 55}, "b": {5, 35}})
	if r.Method != "exact: coalitions of 2 channels enumerated" {
		t.Errorf("method %q", r.Method)
	}
}

// Three channels, solved by hand. R: {a} 6, {a,b} 6, {a,b,c} 3; a path of c alone and one of d
// alone carry no conversions. d is a null player (on no converting path) and gets 0; the players
// are a, b, c, with weights |S|!(2−|S|)!/3! = ⅓, ⅙, ⅓ for |S| = 0, 1, 2.
// v: a 6, b 0, c 0, ab 12, ac 6, bc 0, abc 15.
// φa = ⅓·6 + ⅙·(12 − 0) + ⅙·(6 − 0) + ⅓·(15 − 0) = 2 + 2 + 1 + 5 = 10
// φb = ⅓·0 + ⅙·(12 − 6) + ⅙·(0 − 0) + ⅓·(15 − 6) = 1 + 3 = 4
// φc = ⅓·0 + ⅙·(6 − 6) + ⅙·(0 − 0) + ⅓·(15 − 12) = 1
// (the closed form: a 6 + 6/2 + 3/3, b 6/2 + 3/3, c 3/3).
func TestShapleyThreeChannelsByHand(t *testing.T) {
	r, err := Shapley(parsePaths(t, "a:6:60:0", "a > b > a:6:12:0", "c > b > a:3:3:0", "c:0:0:5", "d:0:0:2"))
	if err != nil {
		t.Fatal(err)
	}
	// Value: R {a} 60, {a,b} 12, {a,b,c} 3 → a 60 + 6 + 1, b 6 + 1, c 1.
	expectCredits(t, r, map[string][2]float64{"a": {10, 67}, "b": {4, 7}, "c": {1, 1}, "d": {0, 0}})
	if r.Method != "exact: coalitions of 3 channels enumerated" {
		t.Errorf("method %q", r.Method)
	}
}

// TestShapleyEnumerationMatchesClosedForm: the definition, enumerated over every coalition, and the
// unanimity-game closed form agree on PathData (12 channels) and on random paths over 20 channels,
// to rounding (the enumeration subtracts large worths: 1e-12 of the total).
func TestShapleyEnumerationMatchesClosedForm(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 5))
	random := make([]Path, 2000)
	for i := range random {
		p := Path{Conversions: float64(rng.IntN(4)), Value: float64(rng.IntN(100)) / 4}
		for range 1 + rng.IntN(8) {
			p.Channels = append(p.Channels, fmt.Sprintf("c%02d", rng.IntN(20)))
		}
		random[i] = p
	}
	for name, paths := range map[string][]Path{"PathData": pathData(t), "random": random} {
		chs, err := index(paths)
		if err != nil {
			t.Fatal(err)
		}
		player, players := make([]int, len(chs.names)), make([]int, len(chs.names))
		for i := range player {
			player[i], players[i] = i, i
		}
		enum, closed := newTally(len(chs.names)), newTally(len(chs.names))
		shapleyEnumerate(paths, chs, player, players, enum)
		shapleyClosedForm(paths, chs, closed)
		var total float64
		for _, p := range paths {
			total += p.Conversions
		}
		for i, ch := range chs.names {
			if !near(enum.conv[i], closed.conv[i], 1e-12*total) || !near(enum.value[i], closed.value[i], 1e-12*total) {
				t.Errorf("%s %s: enumerated (%v, %v), closed form (%v, %v)", name, ch, enum.conv[i], enum.value[i], closed.conv[i], closed.value[i])
			}
		}
	}
}

// TestShapleyBeyondEnumeration: with more than 20 players Shapley uses the closed form, which
// shares each path equally among its distinct channels.
func TestShapleyBeyondEnumeration(t *testing.T) {
	var paths []Path
	for i := range 25 {
		paths = append(paths, Path{Channels: []string{fmt.Sprintf("c%02d", i), "hub", fmt.Sprintf("c%02d", i)}, Conversions: 2, Value: 6})
	}
	r, err := Shapley(paths)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(r.Method, "exact: closed form over 26 channels") {
		t.Errorf("method %q", r.Method)
	}
	want := map[string][2]float64{"hub": {25, 75}}
	for i := range 25 {
		want[fmt.Sprintf("c%02d", i)] = [2]float64{1, 3}
	}
	expectCredits(t, r, want)
}
