package upstream

import (
	"context"
	"math"
	"sync"
	"time"

	"pandav/drivers"
)

// Limiters paces an account's calls per API class ("list", "link",
// "other", ...). The clouds count per account, not per mount, so a driver
// keeps one Limiters per account in drivers.Shared.
//
// Each pace hands its calls out in fair turns among the clients waiting
// for it (drivers.ClientOf): one call of each client in turn, the one
// served longest ago first, so a client that arrives while a scanner has
// thirty calls queued waits for at most one call of each busy client,
// not for the whole queue. The rate itself is exact: calls of one pace
// leave at most once per interval, whoever makes them.
type Limiters struct {
	mu    sync.Mutex
	clock clock
	paces map[string]*fairPace // by class, made on first use
	rates map[string]float64   // per second, by class
	// routes lists, for a class with a scan budget, the paces its calls
	// pass in order: the budget's, then the pace of the class it is
	// counted with.
	routes map[string][]string
}

// NewLimiters returns limiters with the given per-second rates. A class not
// in rates is not paced.
func NewLimiters(rates map[string]float64) *Limiters {
	l := &Limiters{clock: realClock{}, paces: map[string]*fairPace{}, rates: map[string]float64{}, routes: map[string][]string{}}
	for c, r := range rates {
		l.rates[c] = r
	}
	return l
}

// ScanBudget makes the calls of class (an account's listings) wait for a
// budget of perMinute calls a minute, spread evenly, and then for the
// pace of pacedAs, the class of rates they are counted with ("" for
// none). A library scan then waits its turn under the budget instead of
// running into the cloud's risk control. perMinute <= 0 sets no budget:
// the calls of class only take pacedAs's pace.
func (l *Limiters) ScanBudget(class string, perMinute float64, pacedAs string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var route []string
	if perMinute > 0 {
		budget := "budget:" + class
		l.rates[budget] = perMinute / 60
		route = append(route, budget)
	}
	if pacedAs != "" {
		route = append(route, pacedAs)
	}
	l.routes[class] = route
}

// Wait blocks until a call of class may go out, taking its turn among the
// clients waiting for the same pace.
func (l *Limiters) Wait(ctx context.Context, class string) error {
	_, err := l.wait(ctx, class)
	return err
}

// wait is Wait, and says whether the call queued behind others (and so
// waited), which Call counts.
func (l *Limiters) wait(ctx context.Context, class string) (queued bool, err error) {
	if l == nil {
		return false, nil
	}
	client := drivers.ClientOf(ctx)
	for _, p := range l.route(class) {
		q, err := p.take(ctx, client)
		queued = queued || q
		if err != nil {
			return queued, err
		}
	}
	return queued, nil
}

// route returns the paces a call of class passes.
func (l *Limiters) route(class string) []*fairPace {
	l.mu.Lock()
	defer l.mu.Unlock()
	names, routed := l.routes[class]
	if !routed {
		names = []string{class}
	}
	var out []*fairPace
	for _, n := range names {
		if p := l.paceLocked(n); p != nil {
			out = append(out, p)
		}
	}
	return out
}

func (l *Limiters) paceLocked(name string) *fairPace {
	if p, ok := l.paces[name]; ok {
		return p
	}
	r, paced := l.rates[name]
	if !paced || r <= 0 || math.IsInf(r, 1) {
		return nil
	}
	p := newFairPace(l.clock, time.Duration(float64(time.Second)/r))
	l.paces[name] = p
	return p
}

// fairPace lets one call go out per interval. A call that finds the pace
// idle and the interval since the last one over goes at once (a burst of
// one, which keeps us under the cloud's own token bucket right after an
// idle spell); the others queue by client, and each slot goes to the
// waiting client served longest ago, one that was never served (or not
// lately) first, ties in order of arrival. While several clients keep
// calls waiting they take turns, one call each; a client that comes to a
// busy pace is served at the next slot, unless it was served since the
// others, and then after at most one call of each of them.
type fairPace struct {
	clock clock
	every time.Duration

	mu     sync.Mutex
	last   time.Time // of the latest grant; zero before the first
	queues map[string][]*paceWaiter
	served map[string]time.Time // each client's latest grant, while it matters
	seq    uint64               // arrivals so far
	armed  bool                 // a grant is scheduled
}

type paceWaiter struct {
	ch      chan struct{}
	seq     uint64
	granted bool
}

func newFairPace(c clock, every time.Duration) *fairPace {
	return &fairPace{clock: c, every: every, queues: map[string][]*paceWaiter{}, served: map[string]time.Time{}}
}

func (p *fairPace) wait(ctx context.Context, client string) error {
	_, err := p.take(ctx, client)
	return err
}

// take is wait, and says whether the call queued.
func (p *fairPace) take(ctx context.Context, client string) (queued bool, err error) {
	p.mu.Lock()
	now := p.clock.Now()
	if len(p.queues) == 0 && (p.last.IsZero() || now.Sub(p.last) >= p.every) {
		p.grantLocked(client, now)
		p.mu.Unlock()
		return false, nil
	}
	p.seq++
	w := &paceWaiter{ch: make(chan struct{}), seq: p.seq}
	p.queues[client] = append(p.queues[client], w)
	p.armLocked(now)
	p.mu.Unlock()

	select {
	case <-w.ch:
		return true, nil
	case <-ctx.Done():
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if w.granted {
		// The turn came as the caller left; the slot is spent either way.
		return true, ctx.Err()
	}
	p.dropLocked(client, w)
	return true, ctx.Err()
}

// armLocked schedules the next grant, unless one is scheduled.
func (p *fairPace) armLocked(now time.Time) {
	if p.armed {
		return
	}
	p.armed = true
	p.clock.AfterFunc(max(p.last.Add(p.every).Sub(now), 0), p.grant)
}

// grant hands the slot that is due to the waiting client served longest
// ago.
func (p *fairPace) grant() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.armed = false
	if len(p.queues) == 0 {
		return
	}
	now := p.clock.Now()
	if early := p.last.Add(p.every).Sub(now); early > 0 {
		p.armLocked(now)
		return
	}
	next := ""
	for c, q := range p.queues {
		if next == "" || p.before(c, q[0], next, p.queues[next][0]) {
			next = c
		}
	}
	q := p.queues[next]
	w := q[0]
	if len(q) > 1 {
		p.queues[next] = q[1:]
	} else {
		delete(p.queues, next)
	}
	w.granted = true
	close(w.ch)
	p.grantLocked(next, now)
	if len(p.queues) > 0 {
		p.armLocked(now)
	}
}

// before says whether client a, whose first waiter is wa, is served
// before b.
func (p *fairPace) before(a string, wa *paceWaiter, b string, wb *paceWaiter) bool {
	sa, sb := p.served[a], p.served[b]
	if !sa.Equal(sb) {
		return sa.Before(sb)
	}
	return wa.seq < wb.seq
}

// servedMemory is how long a client's latest grant is remembered: longer
// than any waiting client's can matter, unless hundreds of intervals pass
// with clients waiting, which a pace that busy never sees.
const servedMemory = 256

// grantLocked records a slot given to client at now.
func (p *fairPace) grantLocked(client string, now time.Time) {
	p.last = now
	p.served[client] = now
	if len(p.served) > servedMemory {
		horizon := now.Add(-servedMemory * p.every)
		for c, t := range p.served {
			if t.Before(horizon) && len(p.queues[c]) == 0 {
				delete(p.served, c)
			}
		}
	}
}

// dropLocked removes a waiter whose caller gave up.
func (p *fairPace) dropLocked(client string, w *paceWaiter) {
	q := p.queues[client]
	for i, x := range q {
		if x == w {
			q = append(q[:i:i], q[i+1:]...)
			break
		}
	}
	if len(q) > 0 {
		p.queues[client] = q
		return
	}
	delete(p.queues, client)
}

// clock is time as the paces see it; tests replace it.
type clock interface {
	Now() time.Time
	AfterFunc(d time.Duration, f func())
}

type realClock struct{}

func (realClock) Now() time.Time                      { return time.Now() }
func (realClock) AfterFunc(d time.Duration, f func()) { time.AfterFunc(d, f) }
