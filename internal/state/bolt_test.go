package state_test

import (
	"testing"

	"pandav/internal/state"
	"pandav/internal/state/statetest"
)

func TestBoltConformance(t *testing.T) {
	dirs := map[state.Store]string{}
	open := func(t *testing.T, dir string) state.Store {
		s, err := state.Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		dirs[s] = dir
		t.Cleanup(func() { s.Close() })
		return s
	}
	statetest.Run(t, statetest.Opener{
		Open: func(t *testing.T) state.Store { return open(t, t.TempDir()) },
		Reopen: func(t *testing.T, s state.Store) state.Store {
			s.Close()
			return open(t, dirs[s])
		},
	})
}

func TestMemoryConformance(t *testing.T) {
	statetest.Run(t, statetest.Opener{Open: func(*testing.T) state.Store { return state.NewMemory() }})
}
