package polling_test

import (
	"fmt"

	"github.com/siogo/siogo/internal/polling"
)

// JSONP, for browsers without XHR2: a poll response is a call of the
// client's callback with the payload as a JavaScript string.
func ExampleAppendJSONP() {
	fmt.Printf("%s\n", polling.AppendJSONP(nil, "3", []byte(`4say "hi"`)))
	// Output: ___eio[3]("4say \"hi\"");
}

// A JSONP POST carries the payload form-encoded in its d field.
func ExampleDecodeJSONP() {
	payload, err := polling.DecodeJSONP([]byte("d=6%3A4hello"))
	if err != nil {
		panic(err)
	}
	fmt.Printf("%s\n", payload)
	// Output: 6:4hello
}

func ExampleAcceptedEncoding() {
	fmt.Println(polling.AcceptedEncoding("gzip, deflate, br"))
	fmt.Println(polling.AcceptedEncoding("br") == "")
	// Output:
	// gzip
	// true
}
