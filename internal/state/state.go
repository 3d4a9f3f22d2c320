// Package state is where pandav keeps what must outlive a process and,
// with several replicas, be the same for all of them: each login's token
// chain, the lease that lets one process at a time refresh it, WebDAV
// locks, dead properties, removals still to do and upload leases.
//
// Each concern is a small interface; a backend implements them all as a
// Store. Two backends exist: an embedded database in state_dir (Open),
// the default for one process, and Redis (OpenRedis), which replicas
// share. statetest is the conformance suite both pass.
// docs/DESIGN.md §State says which state is shared and which is not.
package state

import (
	"context"
	"errors"
	"time"
)

// Token is one login's current credentials, as stored. A login made by
// `pandav login` is stored as a Token too.
type Token struct {
	Access  string    `json:"access_token"`
	Refresh string    `json:"refresh_token"`
	Expiry  time.Time `json:"expiry"` // of Access; zero means unknown
	// RefreshSentAt is the refresh journal: it is stored while Refresh is
	// being traded, and cleared by the store of the answer. Found set
	// after a crash, it says the cloud may have spent Refresh without
	// pandav ever seeing the new one, which is then the reason given if it
	// is refused.
	RefreshSentAt time.Time `json:"refresh_sent_at,omitzero"`
	// Since is when Refresh was obtained: by a trade, or by a login.
	// Zero for a token pasted into the config.
	Since time.Time `json:"since,omitzero"`
}

// Tokens keeps each login's newest token, by a key the driver derives
// from the login (upstream.TokenStore).
type Tokens interface {
	// LoadToken returns the stored token, ok=false when none is.
	LoadToken(ctx context.Context, key string) (tok Token, ok bool, err error)
	// PutToken stores tok whatever was stored: a new login.
	PutToken(ctx context.Context, key string, tok Token) error
	// SwapToken stores tok only when the stored token's refresh token is
	// still prev ("" when none is stored): the compare-and-set that keeps
	// the chain of single-use refresh tokens one chain. It returns the
	// token stored after the call and whether tok is it.
	SwapToken(ctx context.Context, key, prev string, tok Token) (stored Token, swapped bool, err error)
}

// Leases are named, exclusive and expiring: one per account for
// refreshing its token, one per path for an upload. A holder that dies
// loses its lease when the time runs out.
type Leases interface {
	// TryLease gives name to owner for ttl when it is free, expired, or
	// owner's already (then its time starts again); false when another
	// owner holds it.
	TryLease(ctx context.Context, name, owner string, ttl time.Duration) (bool, error)
	// ReleaseLease frees name if owner holds it.
	ReleaseLease(ctx context.Context, name, owner string) error
}

// Lock is one WebDAV write lock (RFC 4918 §6, §9.10).
type Lock struct {
	// Token is a urn:uuid: URI, unique for all time (RFC 4918 §6.5).
	Token     string `json:"token"`
	Root      string `json:"root"` // cleaned path
	ZeroDepth bool   `json:"zero_depth,omitempty"`
	Shared    bool   `json:"shared,omitempty"`
	// OwnerXML is the <owner> the client sent, verbatim; it is given
	// back in lockdiscovery.
	OwnerXML string `json:"owner_xml,omitempty"`
	// Principal is who took it: "user:" and a name, or "addr:" and the
	// address of an anonymous client; locks.max_per_user counts by it.
	Principal string        `json:"principal"`
	Timeout   time.Duration `json:"timeout"`
	Expires   time.Time     `json:"expires"`
}

// Locks keeps the WebDAV locks. A lock whose Expires has passed is as
// good as gone: stores drop it at the next change.
type Locks interface {
	// LiveLocks returns the locks that have not expired at now, by token.
	LiveLocks(ctx context.Context, now time.Time) (map[string]Lock, error)
	// UpdateLocks runs fn on the live locks in one transaction: what fn
	// leaves in the map is stored. When fn fails, nothing changes and its
	// error is returned. fn may run more than once (a store that retries
	// on a conflict), so it must only work on the map.
	UpdateLocks(ctx context.Context, now time.Time, fn func(map[string]Lock) error) error
}

// Props keeps dead properties (PROPPATCH), by mount and file ID, each
// property under its "namespace local" name as its user encodes it (the
// store does not look inside).
type Props interface {
	GetProps(ctx context.Context, mount, id string) (map[string][]byte, error)
	// PatchProps sets and removes properties of one file at once.
	PatchProps(ctx context.Context, mount, id string, set map[string][]byte, remove []string) error
	// CopyProps merges from's properties into to's (from's win); with
	// move, from's are dropped in the same transaction.
	CopyProps(ctx context.Context, mount, from, to string, move bool) error
	DropProps(ctx context.Context, mount, id string) error
}

// Removal is an old file an overwrite replaced but could not remove
// yet; Entry is the driver's entry, as JSON.
type Removal struct {
	ID    string `json:"id"` // given by AddRemoval
	Mount string `json:"mount"`
	Entry []byte `json:"entry"`
}

// Removals keeps the removals still to do.
type Removals interface {
	AddRemoval(ctx context.Context, r Removal) (id string, err error)
	Removals(ctx context.Context) ([]Removal, error)
	DoneRemoval(ctx context.Context, id string) error
}

// Store is every kind of state, in one backend.
type Store interface {
	Tokens
	Leases
	Locks
	Props
	Removals
	// Shared says whether other processes use this store at once
	// (replicas): then what a process caches of it must be checked
	// again, or dropped when Watch says so.
	Shared() bool
	Close() error
}

// Watcher is a shared store that fans out a change made by one process
// to the others: Publish reaches every process's Watch function but the
// publisher's own. Messages may be lost (a connection that broke): then
// the Watch functions get topic "all", and drop everything they cache.
type Watcher interface {
	Publish(ctx context.Context, topic, msg string) error
	Watch(fn func(topic, msg string))
	// Sync returns once every message published before it was called has
	// reached this process's Watch functions (or "all" did), so that a
	// request sees what the one before it changed through another
	// replica.
	Sync(ctx context.Context) error
}

// ErrUnavailable wraps every error of a store that cannot be reached
// (Redis down): the request that needs it is answered 503 with
// Retry-After, and nothing was written.
var ErrUnavailable = errors.New("the state store cannot be reached")

// KeepLease renews the lease name, which owner holds, every third of ttl
// until the returned function is called, which frees it: a holder that
// lives keeps it however long its work takes, and one that dies loses it
// within ttl.
func KeepLease(l Leases, name, owner string, ttl time.Duration) (release func()) {
	stop := make(chan struct{})
	call := func(f func(context.Context) error) {
		ctx, cancel := context.WithTimeout(context.Background(), ttl)
		defer cancel()
		f(ctx)
	}
	go func() {
		t := time.NewTicker(ttl / 3)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				call(func(ctx context.Context) error { _, err := l.TryLease(ctx, name, owner, ttl); return err })
			}
		}
	}()
	return func() {
		close(stop)
		call(func(ctx context.Context) error { return l.ReleaseLease(ctx, name, owner) })
	}
}
