package booking_test

import (
	"encoding/json"
	"fmt"

	"github.com/skattekonto-events/skattekonto-events/internal/booking"
)

func ExampleTable_Propose() {
	amount := int64(-1292)
	v := booking.Default().Propose("Debiterad preliminärskatt", &amount, nil, booking.Company, booking.Settings{})
	b, _ := json.Marshal(v)
	fmt.Println(string(b))

	v = booking.Default().Propose("Debiterad preliminärskatt", &amount, nil, booking.SoleTrader, booking.Settings{})
	b, _ = json.Marshal(v)
	fmt.Println(string(b))

	v = booking.Default().Propose("Anstånd", &amount, nil, booking.Company, booking.Settings{})
	b, _ = json.Marshal(v)
	fmt.Println(string(b))
	// Output:
	// {"rules":"skattekonto-events-default@1","status":"mapped","lines":[{"account":"2518","debit":1292},{"account":"1630","credit":1292}]}
	// {"rules":"skattekonto-events-default@1","status":"mapped","lines":[{"account":"2013","debit":1292},{"account":"1630","credit":1292}]}
	// {"rules":"skattekonto-events-default@1","status":"unmapped","lines":[]}
}
