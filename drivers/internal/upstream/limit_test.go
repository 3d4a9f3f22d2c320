package upstream

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"pandav/drivers"
)

// fakeClock runs scheduled functions when a test moves time on, so that
// a pace's grants happen at known instants.
type fakeClock struct {
	mu    sync.Mutex
	now   time.Time
	queue []scheduled
}

type scheduled struct {
	at time.Time
	f  func()
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Unix(1_700_000_000, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) AfterFunc(d time.Duration, f func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.queue = append(c.queue, scheduled{at: c.now.Add(d), f: f})
}

// advance moves time on by d, running what falls due in time order.
func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	end := c.now.Add(d)
	c.mu.Unlock()
	for {
		c.mu.Lock()
		sort.SliceStable(c.queue, func(i, j int) bool { return c.queue[i].at.Before(c.queue[j].at) })
		if len(c.queue) == 0 || c.queue[0].at.After(end) {
			c.now = end
			c.mu.Unlock()
			return
		}
		s := c.queue[0]
		c.queue = c.queue[1:]
		c.now = s.at
		c.mu.Unlock()
		s.f()
	}
}

// waiting is how many calls wait on p.
func (p *fairPace) waiting() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, q := range p.queues {
		n += len(q)
	}
	return n
}

// queueCalls starts n calls of client on p, one after another into the
// queue, and returns where their grants are reported.
func queueCalls(t *testing.T, p *fairPace, client string, n int, done chan<- string) {
	t.Helper()
	for i := range n {
		before := p.waiting()
		go func() {
			ctx := drivers.WithClient(context.Background(), client)
			if err := p.wait(ctx, drivers.ClientOf(ctx)); err != nil {
				t.Error(err)
			}
			done <- fmt.Sprintf("%s%d", client, i)
		}()
		for p.waiting() == before {
			time.Sleep(time.Millisecond)
		}
	}
}

// TestFairTurns: a scanner, served a moment ago, queues ten calls, and a
// second scanner four; a person's one call, queued last, goes out before
// the first scanner's, which was served since; then the scanners take
// turns. Every grant is one interval after the last, never sooner.
func TestFairTurns(t *testing.T) {
	clk := newFakeClock()
	const every = time.Second
	p := newFairPace(clk, every)
	done := make(chan string, 32)

	// The first call of an idle pace goes at once.
	if err := p.wait(context.Background(), "scanner"); err != nil {
		t.Fatal(err)
	}
	queueCalls(t, p, "scanner", 10, done)
	queueCalls(t, p, "indexer", 4, done)
	queueCalls(t, p, "person", 1, done)

	var order []string
	var at []time.Time
	for p.waiting() > 0 {
		clk.advance(every)
		select {
		case g := <-done:
			order = append(order, g)
			at = append(at, clk.Now())
		case <-time.After(5 * time.Second):
			t.Fatalf("no grant after %v; granted so far %v", every, order)
		}
	}
	want := []string{"indexer0", "person0", "scanner0", "indexer1", "scanner1", "indexer2", "scanner2", "indexer3", "scanner3",
		"scanner4", "scanner5", "scanner6", "scanner7", "scanner8", "scanner9"}
	if fmt.Sprint(order) != fmt.Sprint(want) {
		t.Fatalf("grants in order %v, want %v", order, want)
	}
	for i := 1; i < len(at); i++ {
		if gap := at[i].Sub(at[i-1]); gap != every {
			t.Fatalf("grants %d and %d are %v apart, want exactly %v", i-1, i, gap, every)
		}
	}
	select {
	case g := <-done:
		t.Fatalf("extra grant %s", g)
	default:
	}
}

// TestFairTurnsReturning: a client served since the busy ones waits for
// one call of each, no more; one that comes back after they were served
// goes next.
func TestFairTurnsReturning(t *testing.T) {
	clk := newFakeClock()
	p := newFairPace(clk, time.Second)
	done := make(chan string, 64)
	p.wait(context.Background(), "person")
	queueCalls(t, p, "a", 5, done)
	queueCalls(t, p, "b", 5, done)
	queueCalls(t, p, "person", 1, done)
	var order []string
	for range 3 {
		clk.advance(time.Second)
		order = append(order, <-done)
	}
	if fmt.Sprint(order) != "[a0 b0 person0]" {
		t.Fatalf("a person served just before waited for %v", order)
	}
	// Served since a and b: back after two of their calls.
	clk.advance(time.Second)
	order = append(order, <-done)
	clk.advance(time.Second)
	order = append(order, <-done)
	queueCalls(t, p, "person", 1, done)
	clk.advance(time.Second)
	if g := <-done; g != "person0" {
		t.Fatalf("after %v, the person coming back waited behind %s", order, g)
	}
	for p.waiting() > 0 {
		clk.advance(time.Second)
		<-done
	}
}

// TestFairTurnsLeaver: a caller that gives up leaves the queue, and the
// slot goes to the next client in turn.
func TestFairTurnsLeaver(t *testing.T) {
	clk := newFakeClock()
	p := newFairPace(clk, time.Second)
	p.wait(context.Background(), "a")
	done := make(chan string, 4)
	ctx, cancel := context.WithCancel(context.Background())
	gone := make(chan error, 1)
	go func() { gone <- p.wait(ctx, "leaver") }()
	for p.waiting() == 0 {
		time.Sleep(time.Millisecond)
	}
	queueCalls(t, p, "b", 1, done)
	cancel()
	if err := <-gone; err != context.Canceled {
		t.Fatalf("the caller who left got %v", err)
	}
	clk.advance(time.Second)
	if g := <-done; g != "b0" {
		t.Fatalf("granted %s", g)
	}
	if n := p.waiting(); n != 0 {
		t.Fatalf("%d still waiting", n)
	}
}

// TestScanBudget: listings pass the budget, then the class they are
// counted with; other calls pass only that class.
func TestScanBudget(t *testing.T) {
	l := NewLimiters(map[string]float64{"api": 3})
	l.ScanBudget("list", 60, "api")
	if got := len(l.route("list")); got != 2 {
		t.Fatalf("a listing passes %d paces, want the budget and the account's", got)
	}
	if l.route("list")[1] != l.route("api")[0] {
		t.Fatal("listings and other calls do not share the account's pace")
	}
	if every := l.route("list")[0].every; every != time.Second {
		t.Fatalf("a budget of 60 a minute spaces listings %v apart", every)
	}
	l.ScanBudget("list", 0, "api")
	if got := len(l.route("list")); got != 1 {
		t.Fatalf("with no budget a listing passes %d paces", got)
	}
	if len(NewLimiters(nil).route("list")) != 0 {
		t.Fatal("an unpaced class waits")
	}
}

// TestLimitersRate: calls of one class on the real clock go out no faster
// than the rate, whatever client makes them.
func TestLimitersRate(t *testing.T) {
	l := NewLimiters(map[string]float64{"link": 50})
	start := time.Now()
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := drivers.WithClient(context.Background(), fmt.Sprint("client", i%3))
			if err := l.Wait(ctx, "link"); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if took := time.Since(start); took < 9*20*time.Millisecond {
		t.Fatalf("10 calls at 50/s took %v, want at least 180ms", took)
	}
}
