package strmlink

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"pandav/drivers"
)

func TestKeys(t *testing.T) {
	dir := t.TempDir()
	// Two processes starting at once make one key between them.
	var wg sync.WaitGroup
	keys := make([][]byte, 8)
	for i := range keys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k, err := FileKeys(dir).Key()
			if err != nil {
				t.Error(err)
			}
			keys[i] = k
		}()
	}
	wg.Wait()
	for _, k := range keys[1:] {
		if string(k) != string(keys[0]) || len(k) != keySize {
			t.Fatal("processes starting together made different keys")
		}
	}
	fi, err := os.Stat(filepath.Join(dir, "strm", "signing.key"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, mode %v, want 0600", err, fi.Mode())
	}
	// A rotation by another process is seen by this one.
	mine := FileKeys(dir)
	before, _ := mine.Key()
	if err := FileKeys(dir).Rotate(); err != nil {
		t.Fatal(err)
	}
	after, err := mine.Key()
	if err != nil || string(after) == string(before) {
		t.Fatalf("the rotation was not seen: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "strm", "signing.key"), []byte("short"), 0o600)
	if _, err := FileKeys(dir).Key(); err == nil || !strings.Contains(err.Error(), "rotate-key") {
		t.Fatalf("a damaged key: %v", err)
	}
}

func TestSignedLinks(t *testing.T) {
	s := NewSigner(FileKeys(t.TempDir()))
	base := "https://nas.example:8080"
	for _, p := range []string{"/115/Movies/Film.mkv", "/115/中文 #1/a?b.mkv", "/a/100%.mp4"} {
		u, err := s.FileURL(base, p)
		if err != nil {
			t.Fatal(err)
		}
		if int64(len(u)) != FileURLSize(base, p) {
			t.Fatalf("%s: size %d, the link is %d", p, FileURLSize(base, p), len(u))
		}
		// What a server reads: the path, unescaped.
		req := strings.TrimPrefix(u, base)
		unescaped := req[:len(FilePrefix)+sigLen] + p
		sig, got, ok := split(unescaped, FilePrefix)
		if !ok || got != p {
			t.Fatalf("%s: split %q %v", p, got, ok)
		}
		if v, _ := s.valid(kindFile, p, sig); !v {
			t.Fatalf("%s: own signature refused", p)
		}
		if v, _ := s.valid(kindList, p, sig); v {
			t.Fatalf("%s: a file's signature opens a listing", p)
		}
		if v, _ := s.valid(kindFile, p+"x", sig); v {
			t.Fatalf("%s: signature good for another path", p)
		}
	}
	for _, bad := range []string{FilePrefix + "short/115/a.mkv", FilePrefix + strings.Repeat("a", sigLen), FilePrefix + strings.Repeat("a", sigLen) + "/115/../etc", FilePrefix + strings.Repeat("a", sigLen) + "/"} {
		if _, _, ok := split(bad, FilePrefix); ok {
			t.Errorf("%q read as a link", bad)
		}
	}
}

func TestView(t *testing.T) {
	r, err := NewRules([]string{".MKV", "mp4", "iso"})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Unix(1e9, 0)
	kids := []drivers.Entry{
		{Name: "Film.MKV", Size: 9, ModTime: at},
		{Name: "Film.srt"},
		{Name: "Film.nfo"},
		{Name: "fanart.jpg"},
		{Name: "theme.mp3"},
		{Name: "Extras", IsDir: true},
		{Name: "Disc.iso"},
		{Name: "Two.mkv"},
		{Name: "Two.mp4"},
		{Name: ".mkv"},
		{Name: "readme.txt"},
	}
	var got []string
	for _, it := range r.View(kids) {
		got = append(got, it.Name+"<"+it.Src.Name)
	}
	want := ".mkv.strm<.mkv,Disc.strm<Disc.iso,Extras<Extras,Film.nfo<Film.nfo,Film.srt<Film.srt,Film.strm<Film.MKV,Two.mkv.strm<Two.mkv,Two.mp4.strm<Two.mp4,fanart.jpg<fanart.jpg"
	if strings.Join(got, ",") != want {
		t.Fatalf("view:\n%s\nwant\n%s", strings.Join(got, ","), want)
	}
	if (ViewOptions{Source: "/115/Movies"}).Covers("/115/Movies2") || !(ViewOptions{Source: "/115"}).Covers("/115/Movies") {
		t.Fatal("Covers")
	}
}
