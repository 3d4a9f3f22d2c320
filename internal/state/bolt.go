package state

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"
)

// DBName is the embedded store's file in state_dir.
const DBName = "state.db"

var (
	bucketTokens   = []byte("tokens")
	bucketLeases   = []byte("leases")
	bucketLocks    = []byte("locks")
	bucketProps    = []byte("props")
	bucketRemovals = []byte("removals")
	bucketMeta     = []byte("meta")
)

// boltStore is the embedded backend: one bbolt file in state_dir. Every
// change is one transaction, synced before it returns, so a crash keeps
// all of it or none. bbolt locks the file, so one process uses it.
type boltStore struct {
	db *bolt.DB
}

// Open opens (creating it if need be) the embedded store in stateDir,
// and moves the state the files of earlier versions kept into it on the
// first start (migrate).
func Open(stateDir string) (Store, error) {
	db, err := bolt.Open(filepath.Join(stateDir, DBName), 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("state store %s: %w", filepath.Join(stateDir, DBName), err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketTokens, bucketLeases, bucketLocks, bucketProps, bucketRemovals, bucketMeta} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	s := &boltStore{db: db}
	if err == nil {
		err = migrate(s, stateDir)
	}
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("state store: %w", err)
	}
	return s, nil
}

func (s *boltStore) Shared() bool { return false }
func (s *boltStore) Close() error { return s.db.Close() }

func (s *boltStore) LoadToken(_ context.Context, key string) (tok Token, ok bool, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		tok, ok, err = getJSON[Token](tx.Bucket(bucketTokens), key)
		return err
	})
	return tok, ok, err
}

func (s *boltStore) PutToken(_ context.Context, key string, tok Token) error {
	return s.db.Update(func(tx *bolt.Tx) error { return putJSON(tx.Bucket(bucketTokens), key, tok) })
}

func (s *boltStore) SwapToken(_ context.Context, key, prev string, tok Token) (stored Token, swapped bool, err error) {
	err = s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketTokens)
		cur, ok, err := getJSON[Token](b, key)
		if err != nil {
			return err
		}
		if ok && cur.Refresh != prev || !ok && prev != "" {
			stored = cur
			return nil
		}
		stored, swapped = tok, true
		return putJSON(b, key, tok)
	})
	return stored, swapped, err
}

type lease struct {
	Owner string    `json:"owner"`
	Until time.Time `json:"until"`
}

func (s *boltStore) TryLease(_ context.Context, name, owner string, ttl time.Duration) (got bool, err error) {
	err = s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketLeases)
		cur, ok, err := getJSON[lease](b, name)
		if err != nil {
			return err
		}
		now := time.Now()
		if ok && cur.Owner != owner && now.Before(cur.Until) {
			return nil
		}
		got = true
		return putJSON(b, name, lease{Owner: owner, Until: now.Add(ttl)})
	})
	return got, err
}

func (s *boltStore) ReleaseLease(_ context.Context, name, owner string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketLeases)
		cur, ok, err := getJSON[lease](b, name)
		if err != nil || !ok || cur.Owner != owner {
			return err
		}
		return b.Delete([]byte(name))
	})
}

func (s *boltStore) LiveLocks(_ context.Context, now time.Time) (m map[string]Lock, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		m, err = liveLocks(tx.Bucket(bucketLocks), now)
		return err
	})
	return m, err
}

func liveLocks(b *bolt.Bucket, now time.Time) (map[string]Lock, error) {
	m := map[string]Lock{}
	err := b.ForEach(func(k, v []byte) error {
		var l Lock
		if err := json.Unmarshal(v, &l); err != nil {
			return fmt.Errorf("lock %s: %w", k, err)
		}
		if now.Before(l.Expires) {
			m[string(k)] = l
		}
		return nil
	})
	return m, err
}

func (s *boltStore) UpdateLocks(_ context.Context, now time.Time, fn func(map[string]Lock) error) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketLocks)
		m, err := liveLocks(b, now)
		if err != nil {
			return err
		}
		if err := fn(m); err != nil {
			return err
		}
		// Rewritten whole: locks are few, and this drops the expired.
		var keys [][]byte
		b.ForEach(func(k, _ []byte) error { keys = append(keys, append([]byte(nil), k...)); return nil })
		for _, k := range keys {
			if _, keep := m[string(k)]; !keep {
				if err := b.Delete(k); err != nil {
					return err
				}
			}
		}
		for tok, l := range m {
			if err := putJSON(b, tok, l); err != nil {
				return err
			}
		}
		return nil
	})
}

func propKey(mount, id string) string { return mount + "\x00" + id }

func (s *boltStore) GetProps(_ context.Context, mount, id string) (props map[string][]byte, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		props, _, err = getJSON[map[string][]byte](tx.Bucket(bucketProps), propKey(mount, id))
		return err
	})
	return props, err
}

func (s *boltStore) PatchProps(_ context.Context, mount, id string, set map[string][]byte, remove []string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketProps)
		k := propKey(mount, id)
		props, _, err := getJSON[map[string][]byte](b, k)
		if err != nil {
			return err
		}
		props = patched(props, set, remove)
		if len(props) == 0 {
			return b.Delete([]byte(k))
		}
		return putJSON(b, k, props)
	})
}

// patched is props with set set and remove removed.
func patched(props, set map[string][]byte, remove []string) map[string][]byte {
	if props == nil {
		props = map[string][]byte{}
	}
	for _, n := range remove {
		delete(props, n)
	}
	for n, v := range set {
		props[n] = v
	}
	return props
}

func (s *boltStore) CopyProps(_ context.Context, mount, from, to string, move bool) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketProps)
		src, ok, err := getJSON[map[string][]byte](b, propKey(mount, from))
		if err != nil || !ok {
			return err
		}
		dst, _, err := getJSON[map[string][]byte](b, propKey(mount, to))
		if err != nil {
			return err
		}
		if err := putJSON(b, propKey(mount, to), patched(dst, src, nil)); err != nil {
			return err
		}
		if move && from != to {
			return b.Delete([]byte(propKey(mount, from)))
		}
		return nil
	})
}

func (s *boltStore) DropProps(_ context.Context, mount, id string) error {
	return s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketProps).Delete([]byte(propKey(mount, id))) })
}

func (s *boltStore) AddRemoval(_ context.Context, r Removal) (id string, err error) {
	err = s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketRemovals)
		n, err := b.NextSequence()
		if err != nil {
			return err
		}
		// Zero-padded, so that the bucket's order is the order of adding.
		r.ID = fmt.Sprintf("%020d", n)
		id = r.ID
		return putJSON(b, r.ID, r)
	})
	return id, err
}

func (s *boltStore) Removals(_ context.Context) (list []Removal, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketRemovals).ForEach(func(k, v []byte) error {
			var r Removal
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("removal %s: %w", k, err)
			}
			list = append(list, r)
			return nil
		})
	})
	return list, err
}

func (s *boltStore) DoneRemoval(_ context.Context, id string) error {
	if _, err := strconv.ParseUint(id, 10, 64); err != nil {
		return nil // not one of ours
	}
	return s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketRemovals).Delete([]byte(id)) })
}

func getJSON[T any](b *bolt.Bucket, key string) (v T, ok bool, err error) {
	raw := b.Get([]byte(key))
	if raw == nil {
		return v, false, nil
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return v, false, fmt.Errorf("%s %q is unreadable: %w", b.Tx().DB().Path(), key, err)
	}
	return v, true, nil
}

func putJSON(b *bolt.Bucket, key string, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put([]byte(key), raw)
}
