package pii_test

import (
	"fmt"

	"github.com/dcrm-project/dcrm/shared/pii"
)

func ExampleNormalizeEmail() {
	for _, raw := range []string{" Ann.Lee+News@GMail.com ", "ａｎｎ＠ｂüｃｈｅｒ．example.", "ann@xn--bcher-kva.example"} {
		n, _ := pii.NormalizeEmail(raw, pii.Standard)
		fmt.Println(n)
	}
	// Output:
	// ann.lee+news@gmail.com
	// ann@xn--bcher-kva.example
	// ann@xn--bcher-kva.example
}

func ExampleRedactJSON() {
	traits := `{"contact":{"e_mail":"ann@example.com","Mobile":"+44 7700 900123"},"name":"Ann Lee","address":{"street":"1 Main St","city":"Leeds"},"plan":"gold","emailOptIn":true}`
	out, _ := pii.RedactJSON([]byte(traits), true)
	fmt.Println(string(out))
	// Output:
	// {"contact":{"e_mail":"sha256:71d4f55f72fa128dfb468a1a3901507c804b74316488744d769d7f4b16696476","Mobile":"[redacted]"},"name":"[redacted]","address":{"street":"[redacted]","city":"Leeds"},"plan":"gold","emailOptIn":true}
}
