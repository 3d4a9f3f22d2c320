package aliyun

import (
	"bytes"
	"context"
	"testing"
	"time"

	"pandav/drivers"
)

// An upload's modification time comes back in listings, which is what
// lets the WebDAV layer answer X-OC-Mtime with "accepted".
func TestUploadKeepsModTime(t *testing.T) {
	d, _, _ := writeDrive(t)
	ctx := context.Background()
	root, err := d.Root(ctx)
	if err != nil {
		t.Fatal(err)
	}
	mtime := time.Date(2021, 5, 6, 7, 8, 9, 0, time.UTC)
	src := &drivers.StreamSource{R: bytes.NewReader([]byte("dated")), N: 5, MTime: mtime}
	if _, err := d.Upload(ctx, root, "dated.txt", src); err != nil {
		t.Fatal(err)
	}
	kids, err := d.List(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range kids {
		if k.Name == "dated.txt" {
			if !k.ModTime.Equal(mtime) {
				t.Fatalf("listed ModTime %v, uploaded with %v", k.ModTime, mtime)
			}
			if !d.KeepsModTime() {
				t.Fatal("KeepsModTime is false")
			}
			return
		}
	}
	t.Fatal("dated.txt not listed")
}
