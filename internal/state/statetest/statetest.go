// Package statetest is the conformance suite of state.Store backends, as
// drivertest is for drivers: every backend passes Run.
package statetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"pandav/internal/state"
)

// Opener opens the backend under test. Each call of Run's subtests gets
// a store of its own, empty; reopen, when not nil, closes s and opens
// the same data again, for the durability checks.
type Opener struct {
	Open   func(t *testing.T) state.Store
	Reopen func(t *testing.T, s state.Store) state.Store
}

// Run checks every concern of state.Store on o's backend.
func Run(t *testing.T, o Opener) {
	t.Run("Tokens", func(t *testing.T) { testTokens(t, o) })
	t.Run("TokenSwapRace", func(t *testing.T) { testSwapRace(t, o) })
	t.Run("Leases", func(t *testing.T) { testLeases(t, o) })
	t.Run("LeaseRace", func(t *testing.T) { testLeaseRace(t, o) })
	t.Run("Locks", func(t *testing.T) { testLocks(t, o) })
	t.Run("LockUpdatesDoNotLoseEachOther", func(t *testing.T) { testLockRace(t, o) })
	t.Run("Props", func(t *testing.T) { testProps(t, o) })
	t.Run("Removals", func(t *testing.T) { testRemovals(t, o) })
	if o.Reopen != nil {
		t.Run("Durable", func(t *testing.T) { testDurable(t, o) })
	}
}

var ctx = context.Background()

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func testTokens(t *testing.T, o Opener) {
	s := o.Open(t)
	if _, ok, err := s.LoadToken(ctx, "k"); ok || err != nil {
		t.Fatalf("LoadToken of nothing: ok %v, %v", ok, err)
	}
	since := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	t1 := state.Token{Access: "a1", Refresh: "r1", Expiry: since.Add(time.Hour), Since: since}
	if _, swapped, err := s.SwapToken(ctx, "k", "other", t1); swapped || err != nil {
		t.Fatalf("SwapToken from a token never stored: swapped %v, %v", swapped, err)
	}
	if got, swapped, err := s.SwapToken(ctx, "k", "", t1); !swapped || err != nil || !got.Expiry.Equal(t1.Expiry) {
		t.Fatalf("SwapToken from none: %+v swapped %v, %v", got, swapped, err)
	}
	got, ok, err := s.LoadToken(ctx, "k")
	if !ok || err != nil || got.Refresh != "r1" || got.Access != "a1" || !got.Since.Equal(since) || !got.Expiry.Equal(t1.Expiry) {
		t.Fatalf("LoadToken: %+v %v %v", got, ok, err)
	}
	// The journal: the same refresh token, marked as being traded.
	j := t1
	j.RefreshSentAt = since
	if _, swapped, _ := s.SwapToken(ctx, "k", "r1", j); !swapped {
		t.Fatal("the journal's swap failed")
	}
	t2 := state.Token{Access: "a2", Refresh: "r2"}
	if got, swapped, _ := s.SwapToken(ctx, "k", "r0", t2); swapped || got.Refresh != "r1" || !got.RefreshSentAt.Equal(since) {
		t.Fatalf("SwapToken from a stale token: %+v swapped %v; want the stored r1 back with its journal", got, swapped)
	}
	if _, swapped, _ := s.SwapToken(ctx, "k", "r1", t2); !swapped {
		t.Fatal("SwapToken from the stored token failed")
	}
	must(t, s.PutToken(ctx, "k", state.Token{Refresh: "login"}))
	if got, _, _ := s.LoadToken(ctx, "k"); got.Refresh != "login" || !got.RefreshSentAt.IsZero() {
		t.Fatalf("after PutToken: %+v", got)
	}
	if got, ok, _ := s.LoadToken(ctx, "k2"); ok {
		t.Fatalf("another key sees %+v", got)
	}
}

// testSwapRace: of many processes trading one refresh token at once,
// exactly one stores its successor.
func testSwapRace(t *testing.T, o Opener) {
	s := o.Open(t)
	must(t, s.PutToken(ctx, "k", state.Token{Refresh: "r0"}))
	exactlyOneWins(t, "swaps won", func(i int) (bool, error) {
		_, swapped, err := s.SwapToken(ctx, "k", "r0", state.Token{Refresh: fmt.Sprint("r1-", i)})
		return swapped, err
	})
}

// exactlyOneWins runs try from 16 goroutines at once and fails unless
// exactly one of them reports a win.
func exactlyOneWins(t *testing.T, what string, try func(i int) (bool, error)) {
	t.Helper()
	var won atomic.Int32
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := try(i)
			if err != nil {
				t.Error(err)
			}
			if ok {
				won.Add(1)
			}
		}()
	}
	wg.Wait()
	if won.Load() != 1 {
		t.Fatalf("%d %s, want 1", won.Load(), what)
	}
}

func testLeases(t *testing.T, o Opener) {
	s := o.Open(t)
	try := func(name, owner string, ttl time.Duration, want bool) {
		t.Helper()
		got, err := s.TryLease(ctx, name, owner, ttl)
		if err != nil || got != want {
			t.Fatalf("TryLease(%s, %s) = %v, %v; want %v", name, owner, got, err, want)
		}
	}
	try("refresh:a", "p1", time.Minute, true)
	try("refresh:a", "p2", time.Minute, false)
	try("refresh:b", "p2", time.Minute, true)
	try("refresh:a", "p1", time.Minute, true) // its own, again
	must(t, s.ReleaseLease(ctx, "refresh:a", "p2"))
	try("refresh:a", "p2", time.Minute, false) // p2 could not free p1's
	must(t, s.ReleaseLease(ctx, "refresh:a", "p1"))
	try("refresh:a", "p2", time.Minute, true)
	// A holder that dies loses its lease when its time runs out.
	try("upload:/x", "dead", 300*time.Millisecond, true)
	try("upload:/x", "p3", time.Minute, false)
	time.Sleep(1100 * time.Millisecond)
	try("upload:/x", "p3", time.Minute, true)
}

func testLeaseRace(t *testing.T, o Opener) {
	s := o.Open(t)
	exactlyOneWins(t, "leases granted at once", func(i int) (bool, error) {
		return s.TryLease(ctx, "refresh:k", fmt.Sprint("p", i), time.Minute)
	})
}

func testLocks(t *testing.T, o Opener) {
	s := o.Open(t)
	now := time.Now()
	l1 := state.Lock{Token: "urn:uuid:1", Root: "/a", Principal: "user:x", OwnerXML: "<D:href>me</D:href>", Timeout: time.Hour, Expires: now.Add(time.Hour)}
	l2 := state.Lock{Token: "urn:uuid:2", Root: "/b", Shared: true, ZeroDepth: true, Timeout: time.Second, Expires: now.Add(time.Second)}
	must(t, s.UpdateLocks(ctx, now, func(m map[string]state.Lock) error {
		if len(m) != 0 {
			t.Errorf("a new store holds %d locks", len(m))
		}
		m[l1.Token], m[l2.Token] = l1, l2
		return nil
	}))
	live, err := s.LiveLocks(ctx, now)
	must(t, err)
	if len(live) != 2 || !reflect.DeepEqual(norm(live[l1.Token]), norm(l1)) || !reflect.DeepEqual(norm(live[l2.Token]), norm(l2)) {
		t.Fatalf("LiveLocks: %+v", live)
	}
	// An expired lock is gone.
	later := now.Add(2 * time.Second)
	if live, _ := s.LiveLocks(ctx, later); len(live) != 1 {
		t.Fatalf("after l2 expired: %d locks", len(live))
	}
	// A failing update changes nothing.
	boom := errors.New("conflict")
	if err := s.UpdateLocks(ctx, later, func(m map[string]state.Lock) error {
		delete(m, l1.Token)
		return boom
	}); !errors.Is(err, boom) {
		t.Fatalf("UpdateLocks returned %v, want fn's error", err)
	}
	if live, _ := s.LiveLocks(ctx, later); len(live) != 1 {
		t.Fatal("a failed update removed a lock")
	}
	must(t, s.UpdateLocks(ctx, later, func(m map[string]state.Lock) error {
		if _, ok := m[l2.Token]; ok {
			t.Error("UpdateLocks shows an expired lock")
		}
		delete(m, l1.Token)
		return nil
	}))
	if live, _ := s.LiveLocks(ctx, now); len(live) != 0 {
		t.Fatalf("after UNLOCK and expiry: %+v", live)
	}
}

func norm(l state.Lock) state.Lock { l.Expires = l.Expires.Round(0).UTC(); return l }

// testLockRace: updates from many processes at once each land.
func testLockRace(t *testing.T, o Opener) {
	s := o.Open(t)
	var wg sync.WaitGroup
	for i := range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tok := fmt.Sprint("urn:uuid:", i)
			err := s.UpdateLocks(ctx, time.Now(), func(m map[string]state.Lock) error {
				m[tok] = state.Lock{Token: tok, Root: "/" + tok, Expires: time.Now().Add(time.Hour)}
				return nil
			})
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if live, _ := s.LiveLocks(ctx, time.Now()); len(live) != 12 {
		t.Fatalf("%d locks after 12 concurrent LOCKs", len(live))
	}
}

func testProps(t *testing.T, o Opener) {
	s := o.Open(t)
	get := func(mount, id string) map[string][]byte {
		t.Helper()
		p, err := s.GetProps(ctx, mount, id)
		must(t, err)
		return p
	}
	if p := get("/m", "1"); len(p) != 0 {
		t.Fatalf("props of nothing: %v", p)
	}
	must(t, s.PatchProps(ctx, "/m", "1", map[string][]byte{"ns a": []byte("A"), "ns b": []byte("B")}, nil))
	must(t, s.PatchProps(ctx, "/m", "1", map[string][]byte{"ns c": []byte("C")}, []string{"ns a"}))
	if p := get("/m", "1"); !reflect.DeepEqual(p, map[string][]byte{"ns b": []byte("B"), "ns c": []byte("C")}) {
		t.Fatalf("after patches: %q", p)
	}
	if p := get("/other", "1"); len(p) != 0 {
		t.Fatalf("another mount sees %q", p)
	}
	must(t, s.PatchProps(ctx, "/m", "2", map[string][]byte{"ns b": []byte("old"), "ns d": []byte("D")}, nil))
	must(t, s.CopyProps(ctx, "/m", "1", "2", false))
	if p := get("/m", "2"); !reflect.DeepEqual(p, map[string][]byte{"ns b": []byte("B"), "ns c": []byte("C"), "ns d": []byte("D")}) {
		t.Fatalf("after copy: %q", p)
	}
	if len(get("/m", "1")) != 2 {
		t.Fatal("copy dropped the source's")
	}
	must(t, s.CopyProps(ctx, "/m", "1", "3", true))
	if len(get("/m", "1")) != 0 || len(get("/m", "3")) != 2 {
		t.Fatal("move left the source's or lost them")
	}
	must(t, s.CopyProps(ctx, "/m", "none", "3", true))
	if len(get("/m", "3")) != 2 {
		t.Fatal("a move from a file without properties changed the destination's")
	}
	must(t, s.DropProps(ctx, "/m", "3"))
	must(t, s.PatchProps(ctx, "/m", "2", nil, []string{"ns b", "ns c", "ns d"}))
	if len(get("/m", "3")) != 0 || len(get("/m", "2")) != 0 {
		t.Fatal("drop or removal of every property left some")
	}
}

func testRemovals(t *testing.T, o Opener) {
	s := o.Open(t)
	var ids []string
	for i := range 3 {
		id, err := s.AddRemoval(ctx, state.Removal{Mount: "/m", Entry: []byte(fmt.Sprintf(`{"id":"%d"}`, i))})
		must(t, err)
		ids = append(ids, id)
	}
	must(t, s.DoneRemoval(ctx, ids[1]))
	must(t, s.DoneRemoval(ctx, "not-an-id"))
	list, err := s.Removals(ctx)
	must(t, err)
	if len(list) != 2 || list[0].ID != ids[0] || list[1].ID != ids[2] || string(list[1].Entry) != `{"id":"2"}` || list[0].Mount != "/m" {
		t.Fatalf("Removals: %+v", list)
	}
}

func testDurable(t *testing.T, o Opener) {
	s := o.Open(t)
	now := time.Now()
	must(t, s.PutToken(ctx, "k", state.Token{Refresh: "r", Since: now}))
	must(t, s.UpdateLocks(ctx, now, func(m map[string]state.Lock) error {
		m["t"] = state.Lock{Token: "t", Root: "/x", Expires: now.Add(time.Hour)}
		return nil
	}))
	must(t, s.PatchProps(ctx, "/m", "1", map[string][]byte{"ns a": []byte("A")}, nil))
	_, err := s.AddRemoval(ctx, state.Removal{Mount: "/m", Entry: []byte("{}")})
	must(t, err)
	s = o.Reopen(t, s)
	if tok, ok, _ := s.LoadToken(ctx, "k"); !ok || tok.Refresh != "r" {
		t.Error("the token did not survive")
	}
	if live, _ := s.LiveLocks(ctx, now); len(live) != 1 {
		t.Error("the lock did not survive")
	}
	if p, _ := s.GetProps(ctx, "/m", "1"); string(p["ns a"]) != "A" {
		t.Error("the property did not survive")
	}
	if l, _ := s.Removals(ctx); len(l) != 1 {
		t.Error("the removal did not survive")
	}
}
