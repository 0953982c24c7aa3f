package recording

import (
	"encoding/binary"
	"hash/fnv"
	"slices"
)

// Recent are the deduplication keys (Input.Dedup: the message id scoped by source and visitor)
// of the latest events written to a profile, as 64-bit FNV-1a hashes (8 bytes each, oldest first).
// They tell that an event was recorded even if its touchpoint was not written (a crash between the
// two writes), for as long as the event is among the latest recentKept (or among those of the
// latest write). The keys are already keyed hashes, so FNV only shortens them.
//
// The list is paid for in write units on every write of the profile (8 bytes a key), and only has
// to outlive the retry of a batch that crashed between its two writes, which comes before the
// profile has been written many more times: 32 keys is 256 bytes.
type Recent []byte

const recentKept = 32

func hashID(id string) [8]byte {
	h := fnv.New64a()
	h.Write([]byte(id))
	var out [8]byte
	binary.BigEndian.PutUint64(out[:], h.Sum64())
	return out
}

func (r Recent) has(id string) bool {
	h := hashID(id)
	for i := 0; i+8 <= len(r); i += 8 {
		if [8]byte(r[i:i+8]) == h {
			return true
		}
	}
	return false
}

// join returns the list with the merged profile's list before it (older), keeping at most
// 2 × recentKept: a profile that joins another brings the events it wrote last, whose touchpoints
// a crash may have kept from being written.
func (r Recent) join(merged Recent) Recent {
	out := append(slices.Clone(merged[:len(merged)/8*8]), r[:len(r)/8*8]...)
	if keep := 2 * recentKept * 8; len(out) > keep {
		out = out[len(out)-keep:]
	}
	return out
}

// add returns the list with ids appended, keeping the latest recentKept, or all of ids if more.
func (r Recent) add(ids []string) Recent {
	out := slices.Clone(r[:len(r)/8*8])
	for _, id := range ids {
		h := hashID(id)
		out = append(out, h[:]...)
	}
	if keep := max(recentKept, len(ids)) * 8; len(out) > keep {
		out = out[len(out)-keep:]
	}
	return out
}
