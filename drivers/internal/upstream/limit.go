package upstream

import (
	"context"
	"sync"

	"golang.org/x/time/rate"
)

// Limiters paces calls per API class ("list", "link", "other", ...). One
// Limiters is shared by every mount of the same account, because the
// clouds count per account, not per mount.
type Limiters struct {
	mu      sync.Mutex
	byClass map[string]*rate.Limiter
	rates   map[string]rate.Limit
}

// NewLimiters returns limiters with the given per-second rates. A class not
// in rates is not paced.
func NewLimiters(rates map[string]float64) *Limiters {
	l := &Limiters{byClass: map[string]*rate.Limiter{}, rates: map[string]rate.Limit{}}
	for c, r := range rates {
		l.rates[c] = rate.Limit(r)
	}
	return l
}

// Wait blocks until a call of class may go out.
func (l *Limiters) Wait(ctx context.Context, class string) error {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	lim, ok := l.byClass[class]
	if !ok {
		r, paced := l.rates[class]
		if !paced {
			l.mu.Unlock()
			return nil
		}
		// A burst of 1 keeps us under the cloud's own token bucket even
		// right after an idle spell.
		lim = rate.NewLimiter(r, 1)
		l.byClass[class] = lim
	}
	l.mu.Unlock()
	return lim.Wait(ctx)
}

var (
	sharedMu       sync.Mutex
	sharedLimiters = map[string]*Limiters{}
)

// SharedLimiters returns the process-wide Limiters for account key,
// creating it with rates on first use.
func SharedLimiters(key string, rates map[string]float64) *Limiters {
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if l, ok := sharedLimiters[key]; ok {
		return l
	}
	l := NewLimiters(rates)
	sharedLimiters[key] = l
	return l
}
