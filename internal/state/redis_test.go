package state_test

import (
	"context"
	"testing"
	"time"

	"pandav/internal/state"
	"pandav/internal/state/redistest"
	"pandav/internal/state/statetest"
)

// TestRedisConformance runs the suite against a real redis-server; the
// durability check restarts it on its append-only file.
func TestRedisConformance(t *testing.T) {
	srv := redistest.Start(t)
	open := func(t *testing.T) state.Store {
		s, err := state.OpenRedis(srv.URL())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	statetest.Run(t, statetest.Opener{
		Open: func(t *testing.T) state.Store {
			srv.FlushAll()
			return open(t)
		},
		Reopen: func(t *testing.T, s state.Store) state.Store {
			s.Close()
			srv.Stop()
			srv.Restart()
			return open(t)
		},
	})
}

// TestRedisWatch: a change published by one process reaches the others'
// Watch functions, not its own.
func TestRedisWatch(t *testing.T) {
	srv := redistest.Start(t)
	var stores []state.Store
	got := make([]chan string, 2)
	for i := range 2 {
		s, err := state.OpenRedis(srv.URL())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		stores = append(stores, s)
		got[i] = make(chan string, 10)
		s.(state.Watcher).Watch(func(topic, msg string) { got[i] <- topic + " " + msg })
	}
	time.Sleep(200 * time.Millisecond) // subscribed
	if err := stores[0].(state.Watcher).Publish(context.Background(), "path", "/m/x"); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-got[1]:
		if m != "path /m/x" {
			t.Fatalf("got %q", m)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the other process never heard of the change")
	}
	select {
	case m := <-got[0]:
		t.Fatalf("the publisher heard its own message %q", m)
	case <-time.After(100 * time.Millisecond):
	}
}
