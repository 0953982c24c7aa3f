package importing_test

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/dcrm-project/dcrm/shared/importing"
	"github.com/dcrm-project/dcrm/shared/source"
)

// A file of order lines, as a till exports it, read into events and rejections. An order's events
// come once the row after its last line is read, so a rejection of that row comes first.
func ExampleNewReader() {
	file := "Receipt,Date,Customer,Item,Qty,Price\n" +
		"R1,12/1/2010 8:26,17850,mug,2,3.50\n" +
		"R1,12/1/2010 8:26,17850,plate,1,4.00\n" +
		"R2,12/1/2010 9:10,17850,mug,-1,3.50\n" +
		"R3,12/1/2010 9:30,,mug,1,3.50\n"
	spec := importing.Spec{Kind: importing.Orders, TimeLayout: "1/2/2006 15:04", Currency: "GBP",
		Source: source.Source{ID: "till"}, ReceivedAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	if err := spec.SetOption("map", "order_id=Receipt,timestamp=Date,userId=Customer,product_id=Item,quantity=Qty,price=Price"); err != nil {
		panic(err)
	}
	rd, err := importing.NewReader(strings.NewReader(file), spec)
	if err != nil {
		panic(err)
	}
	for {
		out, err := rd.Next()
		if err == io.EOF {
			break
		}
		switch {
		case out.Event != nil:
			fmt.Printf("lines %d-%d: %s %s %s\n", out.Line, out.LastLine, out.Event.UserID, out.Event.Event, out.Event.Properties)
		case out.Rejected != nil:
			fmt.Printf("line %d rejected: %s\n", out.Rejected.Line, out.Rejected.Reason)
		}
	}
	st := rd.Status()
	fmt.Printf("rows %d, imported %d, rejected %d, events %d\n", st.Rows, st.Imported, st.Rejected, st.Events)
	// Output:
	// lines 2-3: 17850 Order Completed {"order_id":"R1","revenue":11,"currency":"GBP","products":[{"product_id":"mug","quantity":2,"price":3.5},{"product_id":"plate","quantity":1,"price":4}]}
	// line 5 rejected: the row names no one: it needs a userId, anonymousId, email or phone
	// lines 4-4: 17850 Order Refunded {"order_id":"R2","revenue":-3.5,"currency":"GBP","products":[{"product_id":"mug","quantity":-1,"price":3.5}]}
	// rows 4, imported 3, rejected 1, events 2
}
