package schemas

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/dcrm-project/dcrm/shared/importing"
)

// Reports as the import function writes them (importing.Report, marshalled) match the schema in
// each state; what the schema forbids is refused. The stack test checks the reports of real
// imports too (functions/import).
func TestImportReportSchema(t *testing.T) {
	start := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	running := importing.Report{Key: "orders/a.csv", State: importing.StateRunning, StartedAt: start}
	running.Kind, running.Format = importing.Orders, importing.CSV
	done := running
	done.State, done.FinishedAt = importing.StateDone, start.Add(time.Minute)
	done.Rows, done.Imported, done.Rejected, done.Events, done.RejectionsSent = 10, 9, 1, 12, 1
	done.Columns, done.UnknownColumns = map[string]string{"order_id": "Invoice"}, []string{"Notes"}
	failed := importing.Report{Key: "nowhere/x.csv", State: importing.StateFailed, StartedAt: start, FinishedAt: start, Error: "unknown kind"}
	for _, rep := range []importing.Report{running, done, failed} {
		body, err := json.Marshal(rep)
		if err != nil {
			t.Fatal(err)
		}
		if err := ValidateFile(ImportReport, body); err != nil {
			t.Errorf("%s report: %v\n%s", rep.State, err, body)
		}
	}
	for _, bad := range []string{
		`{"key":"k","state":"failed","startedAt":"2026-12-07T10:00:00Z","kind":"","format":"","gzip":false,"rows":0,"imported":0,"rejected":0,"duplicates":0,"events":0,"spend":0,"rejectionsSent":0}`,
		`{"key":"k","state":"done","startedAt":"2026-12-07T10:00:00Z","kind":"orders","format":"csv","gzip":false,"rows":-1,"imported":0,"rejected":0,"duplicates":0,"events":0,"spend":0,"rejectionsSent":0}`,
		`{"key":"k","state":"done","startedAt":"2026-12-07T10:00:00Z","kind":"invoices","format":"csv","gzip":false,"rows":0,"imported":0,"rejected":0,"duplicates":0,"events":0,"spend":0,"rejectionsSent":0}`,
		`{"key":"k","state":"done","startedAt":"2026-12-07T10:00:00Z","kind":"orders","format":"csv","gzip":false,"rows":0,"imported":0,"rejected":0,"duplicates":0,"events":0,"spend":0,"rejectionsSent":0,"error":"x"}`,
	} {
		if err := ValidateFile(ImportReport, []byte(bad)); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
	if err := ValidateFile("invoice-report.v1", []byte(`{}`)); err == nil || !strings.Contains(err.Error(), "no schema") {
		t.Errorf("unknown schema: %v", err)
	}
}
