package drivertest

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"

	"pandav/drivers"
	"pandav/internal/fakecloud"
)

// RunWrite runs the write part of the suite: create, upload (streamed,
// rapid and multipart), rename, move, copy, remove and duplicate names.
func RunWrite(t *testing.T, h Harness) {
	runSuite(t, h, []suiteTest{
		{"Mkdir", testMkdir},
		{"UploadSmall", testUploadSmall},
		{"UploadEmpty", testUploadEmpty},
		{"UploadMultipart", testUploadMultipart},
		{"UploadRapid", testUploadRapid},
		{"Rename", testRename},
		{"Move", testMove},
		{"Copy", testCopy},
		{"Remove", testRemove},
		{"DuplicateNames", testDuplicateNames},
		{"FullDriveAndTooLarge", testFullDriveAndTooLarge},
	})
}

// testFullDriveAndTooLarge: a file that does not fit the space left is
// drivers.ErrNoSpace, one over the cloud's largest file
// drivers.ErrTooLarge, and neither leaves anything in the drive.
func testFullDriveAndTooLarge(t *testing.T, f *Fixture) {
	up := capability[drivers.Uploader](t, f)
	ctx := ctxT(t)
	root, err := Resolve(ctx, f.Drive, "/")
	if err != nil {
		t.Fatal(err)
	}
	before, _ := f.Cloud.Tree().Children(f.RootID)
	f.Cloud.SetSpace(f.Cloud.Tree().Usage() + 10)
	if _, err := up.Upload(ctx, root, "full.bin", source(f, seeded(7, 100))); !errors.Is(err, drivers.ErrNoSpace) {
		t.Errorf("upload to a full drive: %v, want drivers.ErrNoSpace", err)
	}
	f.Cloud.SetSpace(1 << 50)
	if f.MaxFileSize > 0 {
		if _, err := up.Upload(ctx, root, "large.bin", source(f, seeded(8, f.MaxFileSize+1))); !errors.Is(err, drivers.ErrTooLarge) {
			t.Errorf("upload over the largest file: %v, want drivers.ErrTooLarge", err)
		}
	}
	if after, _ := f.Cloud.Tree().Children(f.RootID); len(after) != len(before) {
		t.Errorf("refused uploads left %d entries behind", len(after)-len(before))
	}
}

func capability[T any](t *testing.T, f *Fixture) T {
	t.Helper()
	c, ok := f.Drive.(T)
	if !ok {
		var zero T
		t.Skipf("driver does not implement %T", &zero)
	}
	return c
}

// source wraps data the way the WebDAV layer would for this driver: a
// spooled, random-access source when the driver needs one, else a
// one-pass stream whose hash is unknown.
func source(f *Fixture, data []byte) drivers.UploadSource {
	var needs drivers.UploadNeeds
	if r, ok := f.Drive.(drivers.UploadRequirer); ok {
		needs = r.UploadNeeds()
	}
	if needs.SHA1 || needs.RandomAccess {
		return drivers.NewBytesSource(data, time.Time{})
	}
	return &drivers.StreamSource{R: bytes.NewReader(data), N: int64(len(data))}
}

func upload(t *testing.T, f *Fixture, dirRel, name string, data []byte) drivers.Entry {
	t.Helper()
	ctx := ctxT(t)
	dir, err := Resolve(ctx, f.Drive, dirRel)
	if err != nil {
		t.Fatal(err)
	}
	e, err := capability[drivers.Uploader](t, f).Upload(ctx, dir, name, source(f, data))
	if err != nil {
		t.Fatalf("upload %s: %v", name, err)
	}
	if e.Name != name || e.IsDir || e.Size != int64(len(data)) || e.ID == "" {
		t.Fatalf("upload %s returned %+v", name, e)
	}
	return e
}

func checkContent(t *testing.T, f *Fixture, rel string, want []byte) drivers.Entry {
	t.Helper()
	ctx := ctxT(t)
	e, err := Resolve(ctx, f.Drive, rel)
	if err != nil {
		t.Fatalf("%s: %v", rel, err)
	}
	if e.Size != int64(len(want)) {
		t.Fatalf("%s: size %d, want %d", rel, e.Size, len(want))
	}
	if len(want) > 0 {
		got, err := Fetch(ctx, f, e, 0, -1)
		if err != nil {
			t.Fatalf("%s: %v", rel, err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("%s: content differs", rel)
		}
	}
	if e.SHA1 != "" && e.SHA1 != drivers.NewBytesSource(want, time.Time{}).SHA1() {
		t.Fatalf("%s: SHA1 %s is not the content's", rel, e.SHA1)
	}
	return e
}

func seeded(seed uint64, n int64) []byte {
	b := make([]byte, n)
	fakecloud.NewSeededBlob(seed, n, "").ReadAt(b, 0)
	return b
}

func testMkdir(t *testing.T, f *Fixture) {
	ctx := ctxT(t)
	mk := capability[drivers.Mkdirer](t, f)
	root, err := f.Drive.Root(ctx)
	if err != nil {
		t.Fatal(err)
	}
	d, err := mk.Mkdir(ctx, root, "新 folder ✨")
	if err != nil {
		t.Fatal(err)
	}
	if !d.IsDir || d.Name != "新 folder ✨" {
		t.Fatalf("mkdir returned %+v", d)
	}
	if _, err := mk.Mkdir(ctx, root, "新 folder ✨"); !errors.Is(err, drivers.ErrExist) {
		t.Fatalf("second mkdir: %v, want ErrExist", err)
	}
	sub, err := mk.Mkdir(ctx, d, "sub")
	if err != nil {
		t.Fatal(err)
	}
	got, err := Resolve(ctx, f.Drive, "新 folder ✨/sub")
	if err != nil || got.ID != sub.ID || !got.IsDir {
		t.Fatalf("resolve new folder: %+v, %v", got, err)
	}
}

func testUploadSmall(t *testing.T, f *Fixture) {
	mustMkdir(t, f, "up")
	data := []byte("hello, pandav\n")
	upload(t, f, "up", "hello 你好.txt", data)
	checkContent(t, f, "up/hello 你好.txt", data)
}

func testUploadEmpty(t *testing.T, f *Fixture) {
	mustMkdir(t, f, "up")
	upload(t, f, "up", "empty.txt", nil)
	checkContent(t, f, "up/empty.txt", nil)
}

func testUploadMultipart(t *testing.T, f *Fixture) {
	if f.MultipartSize <= 0 {
		t.Skip("harness sets no MultipartSize")
	}
	mustMkdir(t, f, "up")
	data := seeded(99, f.MultipartSize*2+12345)
	upload(t, f, "up", "multi.bin", data)
	checkContent(t, f, "up/multi.bin", data)
}

func testUploadRapid(t *testing.T, f *Fixture) {
	if _, ok := f.Cloud.(fakecloud.RapidUploads); !ok {
		t.Skip("the cloud has no rapid upload")
	}
	data := seeded(5, 3<<20+77)
	mustPut(t, f, "orig/source.bin", fakecloud.BytesBlob(data))
	mustMkdir(t, f, "rapid")
	before := f.Cloud.UploadedBytes()
	ctx := ctxT(t)
	dir, err := Resolve(ctx, f.Drive, "rapid")
	if err != nil {
		t.Fatal(err)
	}
	// A rapid upload needs the hash up front, as an OC-Checksum gives.
	e, err := capability[drivers.Uploader](t, f).Upload(ctx, dir, "copy.bin", drivers.NewBytesSource(data, time.Time{}))
	if err != nil {
		t.Fatal(err)
	}
	if sent := f.Cloud.UploadedBytes() - before; sent != 0 {
		t.Fatalf("rapid upload sent %d content bytes", sent)
	}
	if e.Size != int64(len(data)) {
		t.Fatalf("rapid upload returned %+v", e)
	}
	checkContent(t, f, "rapid/copy.bin", data)
}

func testRename(t *testing.T, f *Fixture) {
	ctx := ctxT(t)
	rn := capability[drivers.Renamer](t, f)
	mustMkdir(t, f, "rn")
	e := upload(t, f, "rn", "a.txt", []byte("aaa"))
	for _, name := range []string{"b.txt", "c.md", "no extension", "点 d.mkv"} {
		got, err := rn.Rename(ctx, e, name)
		if err != nil {
			t.Fatalf("rename to %q: %v", name, err)
		}
		if got.Name != name || got.ID == "" {
			t.Fatalf("rename to %q returned %+v", name, got)
		}
		checkContent(t, f, "rn/"+name, []byte("aaa"))
		// Read-after-write: a cloud that lists changes late must not
		// show the old name next to the new one.
		if _, err := Resolve(ctx, f.Drive, "rn/"+e.Name); !errors.Is(err, drivers.ErrNotFound) {
			t.Fatalf("after renaming %q to %q, the old name is still listed (%v)", e.Name, name, err)
		}
		e = got
	}
	d := mustMkdir(t, f, "rn/folder")
	de, err := Resolve(ctx, f.Drive, "rn/folder")
	if err != nil || de.ID != d.ID {
		t.Fatal(err)
	}
	if _, err := rn.Rename(ctx, de, "folder 2"); err != nil {
		t.Fatal(err)
	}
	if _, err := Resolve(ctx, f.Drive, "rn/folder 2"); err != nil {
		t.Fatal(err)
	}
}

func testMove(t *testing.T, f *Fixture) {
	ctx := ctxT(t)
	mv := capability[drivers.Mover](t, f)
	mustMkdir(t, f, "mv/src")
	mustMkdir(t, f, "mv/dst")
	e := upload(t, f, "mv/src", "one.txt", []byte("one"))
	dst, err := Resolve(ctx, f.Drive, "mv/dst")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mv.Move(ctx, e, dst, ""); err != nil {
		t.Fatal(err)
	}
	checkContent(t, f, "mv/dst/one.txt", []byte("one"))
	if _, err := Resolve(ctx, f.Drive, "mv/src/one.txt"); !errors.Is(err, drivers.ErrNotFound) {
		t.Fatalf("source still there: %v", err)
	}
	e2 := upload(t, f, "mv/src", "two.txt", []byte("two"))
	got, err := mv.Move(ctx, e2, dst, "deux.srt")
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != "deux.srt" {
		t.Fatalf("move+rename returned %+v", got)
	}
	checkContent(t, f, "mv/dst/deux.srt", []byte("two"))
}

func testCopy(t *testing.T, f *Fixture) {
	ctx := ctxT(t)
	cp := capability[drivers.Copier](t, f)
	mustMkdir(t, f, "cp/dst")
	mustPut(t, f, "cp/tree/a.txt", fakecloud.BytesBlob([]byte("A")))
	mustPut(t, f, "cp/tree/sub/b.txt", fakecloud.BytesBlob([]byte("BB")))
	tree, err := Resolve(ctx, f.Drive, "cp/tree")
	if err != nil {
		t.Fatal(err)
	}
	dst, err := Resolve(ctx, f.Drive, "cp/dst")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cp.Copy(ctx, tree, dst, ""); err != nil {
		t.Fatal(err)
	}
	checkContent(t, f, "cp/dst/tree/a.txt", []byte("A"))
	checkContent(t, f, "cp/dst/tree/sub/b.txt", []byte("BB"))
	checkContent(t, f, "cp/tree/sub/b.txt", []byte("BB"))
	a, err := Resolve(ctx, f.Drive, "cp/tree/a.txt")
	if err != nil {
		t.Fatal(err)
	}
	got, err := cp.Copy(ctx, a, dst, "a copy.txt")
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != "a copy.txt" {
		t.Fatalf("copy with a new name returned %+v", got)
	}
	checkContent(t, f, "cp/dst/a copy.txt", []byte("A"))
}

func testRemove(t *testing.T, f *Fixture) {
	ctx := ctxT(t)
	rm := capability[drivers.Remover](t, f)
	for _, permanent := range []bool{false, true} {
		dir := fmt.Sprintf("rm-%v", permanent)
		mustPut(t, f, dir+"/x.txt", fakecloud.BytesBlob([]byte("x")))
		mustPut(t, f, dir+"/folder/y.txt", fakecloud.BytesBlob([]byte("y")))
		for _, rel := range []string{dir + "/x.txt", dir + "/folder"} {
			e, err := Resolve(ctx, f.Drive, rel)
			if err != nil {
				t.Fatal(err)
			}
			if err := rm.Remove(ctx, e, permanent); err != nil {
				t.Fatalf("remove %s (permanent %v): %v", rel, permanent, err)
			}
			if _, err := Resolve(ctx, f.Drive, rel); !errors.Is(err, drivers.ErrNotFound) {
				t.Fatalf("%s still listed: %v", rel, err)
			}
			if g, ok := f.Drive.(getter); ok {
				if got, err := g.Get(ctx, e.ID); err == nil {
					t.Fatalf("Get finds removed %s: %+v", rel, got)
				}
			}
		}
	}
}

func testDuplicateNames(t *testing.T, f *Fixture) {
	ctx := ctxT(t)
	mustMkdir(t, f, "dup")
	upload(t, f, "dup", "same.txt", []byte("first"))
	dir, err := Resolve(ctx, f.Drive, "dup")
	if err != nil {
		t.Fatal(err)
	}
	second, err := capability[drivers.Uploader](t, f).Upload(ctx, dir, "same.txt", source(f, []byte("second!")))
	if errors.Is(err, drivers.ErrExist) {
		return // refusing is allowed; replacing is not
	}
	if err != nil {
		t.Fatal(err)
	}
	if second.Name != "same.txt" {
		// a cloud may auto-rename; then both must still be there
		checkContent(t, f, "dup/same.txt", []byte("first"))
		return
	}
	kids, err := f.Drive.List(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, k := range kids {
		if k.Name == "same.txt" {
			order = append(order, k.ID)
		}
	}
	if len(order) != 2 {
		t.Fatalf("%d entries named same.txt, want both", len(order))
	}
	again, _ := f.Drive.List(ctx, dir)
	var order2 []string
	for _, k := range again {
		if k.Name == "same.txt" {
			order2 = append(order2, k.ID)
		}
	}
	if fmt.Sprint(order) != fmt.Sprint(order2) {
		t.Fatalf("duplicate order changes between listings: %v, %v", order, order2)
	}
	if order[0] != second.ID {
		t.Fatalf("the newest duplicate is not listed first")
	}
}
