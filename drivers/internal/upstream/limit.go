package upstream

import (
	"context"
	"sync"

	"golang.org/x/time/rate"
)

// Limiters paces calls per API class ("list", "link", "other", ...). The
// clouds count per account, not per mount, so a driver keeps one Limiters
// per account in drivers.Shared.
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
