package kinesis

import (
	"math/big"
	"math/rand/v2"
	"testing"
)

func TestHashKeysReadAsDecimalNumbersBelow2To128(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 1000 {
		h := hashKey{r.Uint64(), r.Uint64() >> r.IntN(64)}
		got, ok := parseHashKey(h.String())
		if !ok || got != h {
			t.Fatalf("parse %s = %v %v", h, got, ok)
		}
	}
	max := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 128), big.NewInt(1))
	if h, ok := parseHashKey(max.String()); !ok || h != (hashKey{^uint64(0), ^uint64(0)}) {
		t.Errorf("2^128-1 = %v %v", h, ok)
	}
	for _, bad := range []string{"", "01", "-1", "1e3", "340282366920938463463374607431768211456", "99999999999999999999999999999999999999999"} {
		if _, ok := parseHashKey(bad); ok {
			t.Errorf("%q read as a hash key", bad)
		}
	}
}

func TestSequenceNumbersNameTheirShardAndIncrease(t *testing.T) {
	a, b := sequenceNumber(3, 41), sequenceNumber(3, 42)
	if !(a < b) || len(a) != 56 {
		t.Errorf("%s, %s: want 56 digits, increasing", a, b)
	}
	if sh, ord, ok := parseSequenceNumber(b); !ok || sh != 3 || ord != 42 {
		t.Errorf("parse %s = %d %d %v", b, sh, ord, ok)
	}
	for _, bad := range []string{"", "12345", "50" + b[2:], b[:55] + "x"} {
		if _, _, ok := parseSequenceNumber(bad); ok {
			t.Errorf("%q read as a sequence number", bad)
		}
	}
}

func TestShardsSplitTheHashKeySpace(t *testing.T) {
	for _, n := range []int{1, 3, 4, 7} {
		starts, ends := splitHashRange(n)
		if starts[0] != (hashKey{}) || ends[n-1] != (hashKey{^uint64(0), ^uint64(0)}) {
			t.Errorf("%d shards do not cover the space", n)
		}
		for i := 1; i < n; i++ {
			next := new(big.Int).Add(ends[i-1].big(), big.NewInt(1))
			if next.Cmp(starts[i].big()) != 0 {
				t.Errorf("%d shards: gap or overlap before shard %d", n, i)
			}
		}
	}
}
