// Package datasets finds the public data sets the tests and benchmarks validate against: they are
// kept beside the repository, in ../shared/datasets (its README names each set's origin and
// licence), not in it.
package datasets

import (
	"path/filepath"
	"runtime"
)

// Path is the path of a file (or folder) of the data sets: Path("events", "online_retail",
// "OnlineRetail_invoice_level.csv"); Path() is the folder itself. Found from this source file,
// so it holds whatever the directory a test runs in.
func Path(parts ...string) string {
	_, here, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(here), "..", "..") // shared/datasets → the repository
	return filepath.Join(append([]string{root, "..", "shared", "datasets"}, parts...)...)
}

// OnlineRetail is the invoice-level aggregate of the UCI "Online Retail" data (Chen, Sain & Guo
// 2012, CC BY 4.0): 25,943 invoices of a UK online shop, 2010-12-01..2011-12-09.
func OnlineRetail() string {
	return Path("events", "online_retail", "OnlineRetail_invoice_level.csv")
}
