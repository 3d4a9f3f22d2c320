package state

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Files of earlier versions, which kept each kind of state in a file of
// its own under state_dir.
const (
	oldTokens   = "tokens" // a folder: one KEY.json per login
	oldLocks    = "locks.json"
	oldProps    = "props.json"
	oldRemovals = "pending-removals.json"
	// MigratedSuffix is added to each old file once its state is in the
	// store: kept, so that a user can go back, but never read again.
	MigratedSuffix = ".migrated"
)

// migrate moves what the files of earlier versions hold in stateDir into
// s, then renames each file (tokens to tokens.migrated, ...). An
// unreadable file stops the start with a message naming it, so that no
// login is lost in silence. A file is renamed only after its state is
// committed, so a crash in between migrates it again, which is harmless:
// every step stores what the file says.
func migrate(s Store, stateDir string) error {
	ctx := context.Background()
	steps := []struct {
		name string
		fn   func(string) error
	}{
		{oldTokens, func(p string) error { return migrateTokens(ctx, s, p) }},
		{oldLocks, func(p string) error { return migrateLocks(ctx, s, p) }},
		{oldProps, func(p string) error { return migrateProps(ctx, s, p) }},
		{oldRemovals, func(p string) error { return migrateRemovals(ctx, s, p) }},
	}
	for _, st := range steps {
		p := filepath.Join(stateDir, st.name)
		if _, err := os.Stat(p); errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err := st.fn(p); err != nil {
			return fmt.Errorf("moving %s into %s: %w (fix or move the file away, then start again)", p, DBName, err)
		}
		if err := os.Rename(p, p+MigratedSuffix); err != nil {
			return err
		}
	}
	return nil
}

func migrateTokens(ctx context.Context, s Store, dir string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".json") || strings.HasPrefix(name, ".") {
			continue
		}
		p := filepath.Join(dir, name)
		var tok Token
		if err := readJSON(p, &tok); err != nil {
			return err
		}
		if tok.Refresh == "" {
			return fmt.Errorf("%s holds no refresh token", name)
		}
		if tok.Since.IsZero() {
			// Written before tokens knew their age: the file's last
			// write is the nearest thing, as a trade rewrote it.
			if fi, err := e.Info(); err == nil {
				tok.Since = fi.ModTime()
			}
		}
		if err := s.PutToken(ctx, strings.TrimSuffix(name, ".json"), tok); err != nil {
			return err
		}
	}
	return nil
}

func migrateLocks(ctx context.Context, s Store, p string) error {
	var list []Lock
	if err := readJSON(p, &list); err != nil {
		return err
	}
	now := time.Now()
	return s.UpdateLocks(ctx, now, func(m map[string]Lock) error {
		for _, l := range list {
			if now.Before(l.Expires) {
				m[l.Token] = l
			}
		}
		return nil
	})
}

func migrateProps(ctx context.Context, s Store, p string) error {
	var old map[string]map[string]json.RawMessage
	if err := readJSON(p, &old); err != nil {
		return err
	}
	for k, props := range old {
		mount, id, ok := strings.Cut(k, "\x00")
		if !ok {
			continue
		}
		set := make(map[string][]byte, len(props))
		for n, v := range props {
			set[n] = v
		}
		if err := s.PatchProps(ctx, mount, id, set, nil); err != nil {
			return err
		}
	}
	return nil
}

func migrateRemovals(ctx context.Context, s Store, p string) error {
	var list []struct {
		Mount string          `json:"mount"`
		Entry json.RawMessage `json:"entry"`
	}
	if err := readJSON(p, &list); err != nil {
		return err
	}
	for _, r := range list {
		if _, err := s.AddRemoval(ctx, Removal{Mount: r.Mount, Entry: r.Entry}); err != nil {
			return err
		}
	}
	return nil
}

func readJSON(p string, v any) error {
	b, err := os.ReadFile(p)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s is unreadable: %w", filepath.Base(p), err)
	}
	return nil
}
