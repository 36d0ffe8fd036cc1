package cpuhog_test

import (
	"fmt"

	"github.com/siogo/siogo/internal/cpuhog"
)

// In a test, cpuhog.Start(t, 0) keeps every core busy until the test ends;
// elsewhere Run returns the function that stops the hogs.
func ExampleRun() {
	stop, err := cpuhog.Run(1)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer stop()
	fmt.Println("one core busy")
	// Output: one core busy
}
