package attribution_test

import (
	"fmt"
	"strings"

	"github.com/dcrm-project/dcrm/shared/attribution"
)

// The absorbing chain of TestMarkovByHand: search converts half of its journeys and sends a
// quarter on to email, which always converts.
func ExampleMarkov() {
	paths := []attribution.Path{
		{Channels: []string{"search"}, Conversions: 2, Value: 20},
		{Channels: []string{"email"}, Conversions: 1, Value: 10},
		{Channels: []string{"search", "email"}, Conversions: 1, Value: 5},
		{Channels: []string{"search"}, Nulls: 1},
	}
	r, err := attribution.Markov(paths)
	if err != nil {
		panic(err)
	}
	fmt.Printf("P(conversion) = %.2f\n", r.ConversionProbability)
	for _, c := range r.Credits {
		fmt.Printf("%s: removal effect %.2f, %.2f conversions\n", c.Channel, c.RemovalEffect, c.Conversions)
	}
	// Output:
	// P(conversion) = 0.80
	// email: removal effect 0.50, 1.60 conversions
	// search: removal effect 0.75, 2.40 conversions
}

func ExampleReadPathData() {
	paths, err := attribution.ReadPathData(strings.NewReader(
		"path,total_conversions,total_conversion_value,total_null\n" +
			"\"display > search > search\",3,90,7\n" +
			"\"search\",1,40,2\n"))
	if err != nil {
		panic(err)
	}
	r, _ := attribution.Linear(paths)
	for _, c := range r.Credits {
		fmt.Printf("%s: %g conversions, value %g\n", c.Channel, c.Conversions, c.Value)
	}
	// Output:
	// display: 1 conversions, value 30
	// search: 3 conversions, value 100
}
