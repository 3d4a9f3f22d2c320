package state

import (
	"os"
	"path/filepath"
	"sync"

	bolt "go.etcd.io/bbolt"
)

var opened struct {
	sync.Mutex
	m map[string]Store
}

// ForDir returns the embedded store of stateDir, opened once per process
// and kept open until it exits: the server, its mounts and the tests that
// open drivers on a state_dir of their own all share one handle, as the
// file admits one process and one handle. Every change is synced when it
// is made, so there is nothing to close.
func ForDir(stateDir string) (Store, error) {
	abs, err := filepath.Abs(stateDir)
	if err != nil {
		return nil, err
	}
	opened.Lock()
	defer opened.Unlock()
	if s, ok := opened.m[abs]; ok {
		return s, nil
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return nil, err
	}
	s, err := Open(abs)
	if err != nil {
		return nil, err
	}
	if opened.m == nil {
		opened.m = map[string]Store{}
	}
	opened.m[abs] = s
	return s, nil
}

// Snapshot opens a copy of stateDir's embedded store, without waiting
// for the process that has it open (bbolt never overwrites the pages its
// last commit points at), for tests and diagnostics. Closing it removes
// the copy.
func Snapshot(stateDir string) (Store, error) {
	b, err := os.ReadFile(filepath.Join(stateDir, DBName))
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "pandav-state-copy-*")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, DBName), b, 0o600); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	s, err := Open(dir)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return snapshot{s.(*boltStore), dir}, nil
}

type snapshot struct {
	*boltStore
	dir string
}

func (s snapshot) Close() error {
	err := s.boltStore.Close()
	os.RemoveAll(s.dir)
	return err
}

// ReadTokens returns every token of a Snapshot of stateDir, by key.
func ReadTokens(stateDir string) (map[string]Token, error) {
	return readAll[Token](stateDir, bucketTokens)
}

// ReadProps returns every file's dead properties in a Snapshot of
// stateDir, by mount and ID joined by a NUL.
func ReadProps(stateDir string) (map[string]map[string][]byte, error) {
	return readAll[map[string][]byte](stateDir, bucketProps)
}

func readAll[T any](stateDir string, bucket []byte) (map[string]T, error) {
	s, err := Snapshot(stateDir)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	out := map[string]T{}
	err = s.(snapshot).db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucket)
		return b.ForEach(func(k, _ []byte) error {
			v, _, err := getJSON[T](b, string(k))
			out[string(k)] = v
			return err
		})
	})
	return out, err
}
