package jsonstr_test

import (
	"fmt"

	"github.com/siogo/siogo/internal/jsonstr"
)

// A string as JSON.stringify writes it, and as a JavaScript literal: the
// line and paragraph separators escaped too.
func ExampleAppend() {
	fmt.Printf("%s\n", jsonstr.Append(nil, "say \"hi\"\n\u2028</script>"))
	// Output: "say \"hi\"\n\u2028</script>"
}
