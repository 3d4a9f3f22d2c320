package fakecloud

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestQRCodesControl(t *testing.T) {
	q := NewQRCodes(time.Minute)
	q.Add("a", "qr-a", "k", nil)
	if err := q.ConfirmLogin("a"); err != nil {
		t.Fatalf("confirming a waiting code: %v", err)
	}
	if err := q.ScanLogin("a"); !errors.Is(err, ErrLoginState) {
		t.Fatalf("scanning a confirmed code: %v", err)
	}
	if _, err := q.Redeem("a"); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Redeem("a"); !errors.Is(err, ErrRedeemed) {
		t.Fatalf("a second redeem: %v", err)
	}
	if err := q.ExpireLogin("a"); !errors.Is(err, ErrLoginState) {
		t.Fatalf("expiring a redeemed code: %v", err)
	}
	q.Add("b", "qr-b", "k", nil)
	if err := q.CancelLogin("b"); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Redeem("b"); !errors.Is(err, ErrNotConfirmed) {
		t.Fatalf("redeeming a cancelled code: %v", err)
	}
	if p, ok := q.FindLogin("qr-b"); !ok || p.ID != "b" || p.State != QRCancelled {
		t.Fatalf("FindLogin: %+v %v", p, ok)
	}
	if err := q.ScanLogin("nope"); !errors.Is(err, ErrNoSuchLogin) {
		t.Fatalf("an unknown code: %v", err)
	}
}

func TestQRCodesPoll(t *testing.T) {
	q := NewQRCodes(200 * time.Millisecond)
	q.Add("a", "qr-a", "k", nil)
	ctx := context.Background()
	// Nothing new: held for the whole hold.
	start := time.Now()
	if p, _ := q.Poll(ctx, "a", 50*time.Millisecond); p.State != QRWaiting || time.Since(start) < 50*time.Millisecond {
		t.Fatalf("a poll without news: %s after %v", p.State, time.Since(start))
	}
	// A change made between two polls is told at once.
	q.ScanLogin("a")
	start = time.Now()
	if p, _ := q.Poll(ctx, "a", time.Second); p.State != QRScanned || time.Since(start) > 100*time.Millisecond {
		t.Fatalf("a change between polls: %s after %v", p.State, time.Since(start))
	}
	// The code's time runs out during a poll.
	if p, _ := q.Poll(ctx, "a", 5*time.Second); p.State != QRExpired {
		t.Fatalf("a poll over the expiry: %s", p.State)
	}
	// Close ends a poll held.
	q.Add("b", "qr-b", "k", nil)
	go func() { time.Sleep(20 * time.Millisecond); q.Close() }()
	start = time.Now()
	q.Poll(ctx, "b", 5*time.Second)
	if time.Since(start) > time.Second {
		t.Fatal("Close did not end a held poll")
	}
}
