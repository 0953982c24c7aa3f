package pii

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// classifyByRules is classify as the rules read: each rule in turn, its exact names and then its
// suffixes.
func classifyByRules(k []byte, inTraits bool) Kind {
	for _, r := range rules {
		if matches(k, toBytes(r.exact), toBytes(r.suffixes)) {
			return r.kind
		}
	}
	if inTraits && matches(k, personNamesB, nil) {
		return Name
	}
	return NotPersonal
}

// keySeeds are keys of every rule's names, their suffixes' neighbours and names that match none.
func keySeeds() []string {
	seeds := []string{"", "d", "id", "userid", "productid", "workemail", "emailaddress", "phonenumbers", "zip", "zipcode",
		"addressline1", "line1", "mail", "email2", "name", "nickname", "plan", "price", "mobile", "automobile", "dob", "ssn"}
	for _, r := range rules {
		for _, n := range append(append([]string{}, r.exact...), r.suffixes...) {
			seeds = append(seeds, n, "x"+n, n+"s", n[1:])
		}
	}
	return seeds
}

func TestClassifyFollowsTheRulesInOrder(t *testing.T) {
	for _, k := range keySeeds() {
		for _, inTraits := range []bool{false, true} {
			assert.Equal(t, classifyByRules([]byte(k), inTraits), classify([]byte(k), inTraits), "%q in traits %v", k, inTraits)
		}
	}
}

func FuzzClassify(f *testing.F) {
	for _, k := range keySeeds() {
		f.Add(k, false)
	}
	f.Fuzz(func(t *testing.T, name string, inTraits bool) {
		var buf [maxKeyBytes]byte
		k := key(&buf, []byte(name))
		if want, got := classifyByRules(k, inTraits), classify(k, inTraits); want != got {
			t.Fatalf("%q (key %q): %v, want %v", name, k, got, want)
		}
	})
}
