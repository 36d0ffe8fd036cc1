package workpool_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/siogo/siogo/internal/leaktest"
	"github.com/siogo/siogo/internal/workpool"
)

func TestMain(m *testing.M) { leaktest.Main(m) }

func runFunc(_ struct{}, f func()) { f() }

// A job that waits holds up no other: the pool starts another worker.
func TestBlockedJobHoldsUpNone(t *testing.T) {
	p := workpool.New(4, runFunc, nil, nil)
	release, started := make(chan struct{}), make(chan struct{})
	p.Go(func() { close(started); <-release })
	<-started
	done := make(chan struct{})
	p.Go(func() { close(done) })
	<-done
	close(release)
	p.Stop()
	if err := p.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// Each worker has its state, made once and ended when the worker ends;
// after Stop a job runs on the caller's goroutine, with a state of its own.
func TestWorkerState(t *testing.T) {
	var mu sync.Mutex
	made, ended := 0, 0
	p := workpool.New(1,
		func(w *int, j int) { *w += j },
		func() *int { mu.Lock(); made++; mu.Unlock(); return new(int) },
		func(*int) { mu.Lock(); ended++; mu.Unlock() })
	var wg sync.WaitGroup
	for i := 0; i < 100; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); p.Go(1) }()
	}
	wg.Wait()
	p.Stop()
	if err := p.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	p.Go(1) // on this goroutine
	mu.Lock()
	defer mu.Unlock()
	if made == 0 || made != ended {
		t.Fatalf("%d worker states made, %d ended", made, ended)
	}
}

func Example() {
	p := workpool.New(8, func(_ struct{}, f func()) { f() }, nil, nil)
	var wg sync.WaitGroup
	wg.Add(1)
	p.Go(func() { defer wg.Done(); fmt.Println("ran on a pooled goroutine") })
	wg.Wait()
	p.Stop()
	_ = p.Wait(context.Background())
	// Output: ran on a pooled goroutine
}
