package profilestore

import (
	"reflect"
	"slices"

	"github.com/dcrm-project/dcrm/shared/profile"
)

// added lists the identifiers after holds (with its hashed ones) that before did not, as text.
func added(before profile.Profile, hashedBefore []string, after profile.Profile, hashedAfter []string) []string {
	had := map[string]bool{}
	for _, id := range before.Identifiers() {
		had[id.String()] = true
	}
	for _, h := range hashedBefore {
		had[h] = true
	}
	var out []string
	for _, id := range after.Identifiers() {
		if !had[id.String()] {
			out = append(out, id.String())
		}
	}
	for _, h := range hashedAfter {
		if !had[h] {
			out = append(out, h)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// changedTraits lists the traits whose value differs between before and after, sorted.
func changedTraits(before, after map[string]any) []string {
	var out []string
	for k, v := range after {
		if old, ok := before[k]; !ok || !reflect.DeepEqual(old, v) {
			out = append(out, k)
		}
	}
	for k := range before {
		if _, ok := after[k]; !ok {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}
