package main

import (
	"fmt"
	"time"
)

func ExampleHistogram() {
	var h Histogram
	for i := 1; i <= 100; i++ {
		h.Record(time.Duration(i) * time.Millisecond)
	}
	fmt.Printf("p50 %.0f ms, p90 %.0f ms, max %.0f ms\n", h.Quantile(0.5), h.Quantile(0.9), h.Quantile(1))
	// Output: p50 50 ms, p90 90 ms, max 100 ms
}
