// Package memdrive is the reference driver: the smallest complete driver,
// for memdrive, a made-up cloud (docs/protocols/memdrive.md) whose
// emulator, memdrivetest, keeps its files in memory.
//
// It is the template to copy for a new cloud. Each file holds one part of
// the job, in the layout every driver follows (drivers/README.md, which
// also lists what else a new cloud touches). What is the same for every
// cloud (pacing, retries, the refresh-token journal, keeping secrets out
// of errors) is in drivers/internal/upstream already, so a driver says
// only how its cloud speaks: the calls, their wire shapes, and what each
// answer means.
package memdrive

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"pandav/drivers"
	"pandav/drivers/internal/upstream"
)

// Drive is one memdrive mount.
type Drive struct {
	o      Options
	api    string // o.APIURL without a trailing slash
	send   upstream.Sender
	caller upstream.Caller
	ts     *upstream.TokenSource
}

// The capabilities, checked here so that a method whose signature drifts
// fails the build instead of silently dropping out of a type assertion.
var (
	_ drivers.Drive   = (*Drive)(nil)
	_ drivers.Quotaer = (*Drive)(nil)
	_ drivers.Closer  = (*Drive)(nil)

	_ drivers.Mkdirer  = (*Drive)(nil)
	_ drivers.Uploader = (*Drive)(nil)
	_ drivers.Renamer  = (*Drive)(nil)
	_ drivers.Mover    = (*Drive)(nil)
	_ drivers.Copier   = (*Drive)(nil)
	_ drivers.Remover  = (*Drive)(nil)
)

func init() { drivers.Register("memdrive", drivers.FactoryOf(New)) }

// apiClass is the one pacing class, because the cloud counts every call
// of a token alike (docs/protocols/memdrive.md §5). A cloud with a limit per kind of
// call gets a class per limit.
const apiClass = "api"

// listClass is the listings' pace: the account's scan budget, then
// apiClass.
const listClass = "list"

// New checks o and builds the drive. It makes no call: a cloud that is
// down at start fails at first use, so one dead mount does not stop the
// others (drivers.Factory).
func New(_ context.Context, env drivers.Env, o Options) (*Drive, error) {
	if err := o.normalize(); err != nil {
		return nil, err
	}
	if env.StateDir == "" {
		return nil, errors.New("memdrive: no state_dir to keep the rotating refresh token in")
	}
	hc := env.HTTPClient
	if hc == nil {
		hc = upstream.NewHTTPClient()
	}
	d := &Drive{o: o, api: strings.TrimRight(o.APIURL, "/"), send: upstream.Sender{Client: hc}}
	// The store is named after the configured token: the saved successor
	// of that token wins on restart, and pasting a new one starts afresh.
	// Mounts of one login share its token source and pacing through
	// env.Shared, because the cloud spends refresh tokens and counts calls
	// per account, not per mount.
	store := upstream.TokenStoreOf(env, "memdrive", o.RefreshToken)
	l, err := drivers.SharedValue(env.Shared, "memdrive:"+store.SharedName(), func() (*login, error) {
		ts, err := upstream.NewTokenSource(store, upstream.Token{Refresh: o.RefreshToken}, d.refresh)
		if err != nil {
			return nil, err
		}
		ts.SetLog(env.Log.With().Str("mount", env.MountPath).Logger())
		limits := upstream.NewLimiters(map[string]float64{apiClass: o.QPS})
		limits.ScanBudget(listClass, o.ScanBudget, apiClass)
		return &login{ts: ts, limits: limits}, nil
	})
	if err != nil {
		return nil, fmt.Errorf("memdrive: %w", err)
	}
	d.ts = l.ts
	policy := upstream.DefaultPolicy
	policy.Attempts = o.Attempts
	d.caller = upstream.Caller{Policy: policy, Limits: l.limits, Cred: l.ts}
	return d, nil
}

// login is what the mounts of one account share.
type login struct {
	ts     *upstream.TokenSource
	limits *upstream.Limiters
}

// Close waits for a token refresh in flight: its answer holds the only
// copy of the next refresh token (drivers.Closer).
func (d *Drive) Close(ctx context.Context) error { return d.ts.Close(ctx) }

// Quota is the account's space, for Finder and davfs2 (docs/protocols/memdrive.md §4).
func (d *Drive) Quota(ctx context.Context) (drivers.Quota, error) {
	var q quotaAnswer
	if err := d.call(ctx, "memdrive quota", request{method: http.MethodGet, path: "/v1/quota"}, &q); err != nil {
		return drivers.Quota{}, err
	}
	return drivers.Quota{Used: q.Used, Total: q.Total}, nil
}
