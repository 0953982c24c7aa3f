package kinesis

import (
	"crypto/md5"
	"encoding/binary"
	"math/big"
	"math/bits"
)

// hashKey is a 128-bit unsigned hash key: the MD5 of a partition key read as a big-endian number,
// or an ExplicitHashKey.
type hashKey struct{ hi, lo uint64 }

func partitionHash(key string) hashKey {
	sum := md5.Sum([]byte(key))
	return hashKey{binary.BigEndian.Uint64(sum[:8]), binary.BigEndian.Uint64(sum[8:])}
}

func (a hashKey) less(b hashKey) bool { return a.hi < b.hi || (a.hi == b.hi && a.lo < b.lo) }

func (a hashKey) big() *big.Int {
	n := new(big.Int).SetUint64(a.hi)
	return n.Lsh(n, 64).Or(n, new(big.Int).SetUint64(a.lo))
}

func (a hashKey) String() string { return a.big().String() }

func fromBig(n *big.Int) hashKey {
	lo := new(big.Int).And(n, new(big.Int).SetUint64(^uint64(0)))
	return hashKey{new(big.Int).Rsh(n, 64).Uint64(), lo.Uint64()}
}

// parseHashKey reads a decimal ExplicitHashKey; ok is false unless it is digits (no sign, no
// leading zero) in [0, 2^128-1].
func parseHashKey(s string) (hashKey, bool) {
	if s == "" || len(s) > 39 || (s[0] == '0' && len(s) > 1) {
		return hashKey{}, false
	}
	var h hashKey
	for i := 0; i < len(s); i++ {
		d := s[i] - '0'
		if d > 9 {
			return hashKey{}, false
		}
		// h = h*10 + d, failing on overflow of 128 bits.
		hiHi, hiLo := bits.Mul64(h.hi, 10)
		loHi, loLo := bits.Mul64(h.lo, 10)
		lo, carry := bits.Add64(loLo, uint64(d), 0)
		hi, carry2 := bits.Add64(hiLo, loHi, carry)
		if hiHi != 0 || carry2 != 0 {
			return hashKey{}, false
		}
		h = hashKey{hi, lo}
	}
	return h, true
}

// splitHashRange divides [0, 2^128-1] into n contiguous ranges as CreateStream does: range i starts
// at i*floor(2^128/n), the last one ends at 2^128-1.
func splitHashRange(n int) (starts, ends []hashKey) {
	space := new(big.Int).Lsh(big.NewInt(1), 128)
	step := new(big.Int).Div(space, big.NewInt(int64(n)))
	for i := range n {
		start := new(big.Int).Mul(step, big.NewInt(int64(i)))
		end := new(big.Int).Add(start, step)
		if i == n-1 {
			end = space
		}
		end.Sub(end, big.NewInt(1))
		starts, ends = append(starts, fromBig(start)), append(ends, fromBig(end))
	}
	return starts, ends
}
