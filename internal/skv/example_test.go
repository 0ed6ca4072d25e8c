package skv_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"

	"github.com/skattekonto-events/skattekonto-events/internal/idnr"
	"github.com/skattekonto-events/skattekonto-events/internal/skv"
)

func ExampleClient_Saldo() {
	// A stand-in for Skatteverket's token endpoint and API.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/token" {
			fmt.Fprint(w, `{"access_token":"example","token_type":"Bearer","expires_in":3600,"scope":"ska"}`)
			return
		}
		fmt.Fprint(w, `{"saldoSkatteverket":-14487,"saldoKronofogden":-145409,"rantaSkatteverket":-12,`+
			`"rantaKronofogden":-10,"ocrNummer":"1948040320946","nastaAvstamningsdatum":"2026-12-05",`+
			`"senastUppdaterad":"2026-11-24T22:10:00"}`)
	}))
	defer srv.Close()

	c, err := skv.New(skv.Config{
		BaseURL:  srv.URL + "/beskattning/skattekonto/v2",
		TokenURL: srv.URL + "/token",
		ClientID: "my-client-id",
		// In production: ClientSecret, CertFile and KeyFile too.
	})
	if err != nil {
		log.Fatal(err)
	}
	id := idnr.MustParse("556677-8899")
	saldo, trace, err := c.Saldo(context.Background(), id)
	if err != nil {
		log.Fatalf("saldo %s: %v", id.Masked(), err)
	}
	fmt.Println("skatteverket:", *saldo.SaldoSkatteverket)
	fmt.Println("kronofogden:", *saldo.SaldoKronofogden)
	fmt.Println("ocr:", saldo.OcrNummer)
	fmt.Println("calls:", trace.Attempts())
	// Output:
	// skatteverket: -14487
	// kronofogden: -145409
	// ocr: 1948040320946
	// calls: 1
}
