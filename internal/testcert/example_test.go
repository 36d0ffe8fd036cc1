package testcert_test

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/siogo/siogo/internal/testcert"
)

func Example() {
	t := &testing.T{}
	c := testcert.New(t)
	hs := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "ok") }))
	hs.TLS = &tls.Config{Certificates: []tls.Certificate{c.TLS}}
	hs.StartTLS()
	defer hs.Close()
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: c.Client()}}
	res, err := client.Get(hs.URL)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer res.Body.Close()
	fmt.Println(res.Status)
	// Output: 200 OK
}
