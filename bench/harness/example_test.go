package harness_test

import (
	"fmt"
	"strings"

	"github.com/siogo/siogo/bench/harness"
)

// What a recorded run says of its machine.
func ExampleCPUModel() {
	fmt.Println(strings.Contains(harness.CPUModel(), "×"))
	// Output: true
}

// The open files a run of 10,000 clients needs in each process.
func ExampleRaiseFileLimit() {
	err := harness.RaiseFileLimit(64)
	fmt.Println(err)
	// Output: <nil>
}
