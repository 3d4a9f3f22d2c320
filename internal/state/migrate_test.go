package state_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"pandav/internal/state"
)

// copyDir copies the fixture, so the test migrates a copy.
func copyDir(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(to, rel), 0o700)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(to, rel), b, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestMigrateRealStateDir opens the store on a copy of a state_dir the
// files of the previous version wrote (testdata/statedir-v1): every token,
// lock, property and removal is in the store afterwards, each old file is
// kept as *.migrated, and a second start migrates nothing again.
func TestMigrateRealStateDir(t *testing.T) {
	dir := t.TempDir()
	copyDir(t, "testdata/statedir-v1", dir)
	// The fixture's lock was taken for an hour when it was made; move
	// its expiry on, as if pandav restarted within that hour.
	locksFile := filepath.Join(dir, "locks.json")
	var locks []map[string]any
	b, _ := os.ReadFile(locksFile)
	if err := json.Unmarshal(b, &locks); err != nil || len(locks) != 1 {
		t.Fatalf("fixture locks.json: %v", err)
	}
	locks[0]["expires"] = time.Now().Add(time.Hour)
	b, _ = json.Marshal(locks)
	os.WriteFile(locksFile, b, 0o600)
	tokenFiles, _ := filepath.Glob(filepath.Join(dir, "tokens", "*.json"))
	if len(tokenFiles) != 2 {
		t.Fatalf("fixture tokens: %v", tokenFiles)
	}
	wantTokens := map[string]state.Token{}
	for _, f := range tokenFiles {
		var tok state.Token
		b, _ := os.ReadFile(f)
		json.Unmarshal(b, &tok)
		wantTokens[strings.TrimSuffix(filepath.Base(f), ".json")] = tok
	}

	s, err := state.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for key, want := range wantTokens {
		got, ok, err := s.LoadToken(ctx, key)
		if !ok || err != nil || got.Refresh != want.Refresh || got.Access != want.Access || !got.Since.Equal(want.Since) {
			t.Errorf("token %s: ok %v err %v", key, ok, err)
		}
	}
	live, err := s.LiveLocks(ctx, time.Now())
	if err != nil || len(live) != 1 {
		t.Fatalf("locks: %v %v", live, err)
	}
	for tok, l := range live {
		if !strings.HasPrefix(tok, "urn:uuid:") || l.Root != "/115/locked.txt" || l.OwnerXML != "fixture" || l.Timeout != time.Hour {
			t.Errorf("lock: %+v", l)
		}
	}
	props, err := s.GetProps(ctx, "/aliyun", "81b84e2713c5781fb4464897f4aa1367c73a73ab")
	if err != nil || !strings.Contains(string(props["http://example.com/ns colour"]), `"InnerXML":"aW5kaWdv"`) {
		t.Errorf("props: %q %v", props, err)
	}
	rs, err := s.Removals(ctx)
	if err != nil || len(rs) != 1 || rs[0].Mount != "/115" || !strings.Contains(string(rs[0].Entry), `"report.docx"`) {
		t.Errorf("removals: %+v %v", rs, err)
	}
	for _, old := range []string{"tokens", "locks.json", "props.json", "pending-removals.json"} {
		if _, err := os.Stat(filepath.Join(dir, old)); !os.IsNotExist(err) {
			t.Errorf("%s is still there: %v", old, err)
		}
		if _, err := os.Stat(filepath.Join(dir, old+state.MigratedSuffix)); err != nil {
			t.Errorf("%s was not kept: %v", old+state.MigratedSuffix, err)
		}
	}
	// A second start finds nothing to migrate, and keeps what it has.
	if _, err := s.AddRemoval(ctx, state.Removal{Mount: "/m", Entry: []byte("{}")}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if s, err = state.Open(dir); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if rs, _ := s.Removals(ctx); len(rs) != 2 {
		t.Errorf("after a second start: %d removals, want 2", len(rs))
	}
}

// TestMigrateUnreadable: an old file the store cannot read stops the
// start with its name, and is left where it was.
func TestMigrateUnreadable(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "props.json"), []byte("{not json"), 0o600)
	_, err := state.Open(dir)
	if err == nil || !strings.Contains(err.Error(), "props.json") {
		t.Fatalf("Open: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "props.json")); err != nil {
		t.Fatal("the unreadable file was moved")
	}
}
