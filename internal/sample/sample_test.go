package sample

import (
	"fmt"
	"testing"

	"pandav/internal/fakecloud"
)

func TestBigFileSHA1(t *testing.T) {
	if testing.Short() {
		t.Skip("hashes 4 GiB")
	}
	b := fakecloud.NewSeededBlob(BigFileSeed, BigFileSize, "")
	if got := b.SHA1(); got != BigFileSHA1 {
		t.Fatalf("BigFileSHA1 is %s, the content hashes to %s", BigFileSHA1, got)
	}
}

func TestFill(t *testing.T) {
	n := 0
	tree := fakecloud.NewTree("root", func() string { n++; return fmt.Sprint(n) })
	if err := Fill(tree); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{VideoPath, BigPath, UnicodePath, SubtitlePath, ReadmePath} {
		if _, err := tree.Lookup(p); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
	}
	dir, _ := tree.Lookup(ManyDir)
	kids, _ := tree.Children(dir.ID)
	if len(kids) != ManyCount {
		t.Fatalf("%d entries in %s", len(kids), ManyDir)
	}
	if len(Video()) == 0 || len(Video()) > 1<<20 {
		t.Fatalf("video is %d bytes", len(Video()))
	}
}
