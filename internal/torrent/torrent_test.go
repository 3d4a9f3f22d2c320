package torrent

import (
	"bytes"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"testing"
)

func TestMakeAndParse(t *testing.T) {
	files := []File{{Path: "Show/E01.mkv", Size: 300 << 10}, {Path: "readme.txt", Size: 5}}
	data := Make("Show.S01", files, func(i int) []byte { return bytes.Repeat([]byte{byte('a' + i)}, int(files[i].Size)) })
	m, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	if m.Name != "Show.S01" || !m.MultiFile || len(m.Files) != 2 || m.Files[0] != files[0] || m.Files[1] != files[1] || m.Size() != 300<<10+5 {
		t.Fatalf("parsed %+v", m)
	}
	// The info hash is over the info dictionary's own bytes.
	i := bytes.Index(data, []byte("4:infod")) + len("4:info")
	sum := sha1.Sum(data[i : len(data)-1])
	if m.InfoHash != hex.EncodeToString(sum[:]) {
		t.Fatalf("info hash %s, want %x", m.InfoHash, sum)
	}

	single, err := Parse(Make("film.mkv", []File{{Path: "film.mkv", Size: 10}}, func(int) []byte { return make([]byte, 10) }))
	if err != nil || single.MultiFile || len(single.Files) != 1 || single.Files[0].Path != "film.mkv" {
		t.Fatalf("single-file torrent: %+v, %v", single, err)
	}
}

func TestParseRefuses(t *testing.T) {
	good := Make("x", []File{{Path: "x", Size: 1}}, func(int) []byte { return []byte{1} })
	for name, in := range map[string][]byte{
		"empty":        nil,
		"text":         []byte("magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567"),
		"html":         []byte("<html><body>not found</body></html>"),
		"list":         []byte("li1ee"),
		"no info":      []byte("d8:announce3:urle"),
		"cut":          good[:len(good)-3],
		"trailing":     append(append([]byte{}, good...), 'x'),
		"deep":         bytes.Repeat([]byte("l"), 200),
		"huge string":  []byte("d4:infod4:name99999:xee"),
		"leading zero": []byte("i03e"),
		"no pieces":    []byte("d4:infod6:lengthi1e4:name1:x12:piece lengthi1eee"),
		"dotdot path":  []byte("d4:infod5:filesld6:lengthi1e4:pathl2:..eee4:name1:x12:piece lengthi1e6:pieces20:aaaaaaaaaaaaaaaaaaaaee"),
	} {
		if _, err := Parse(in); !errors.Is(err, ErrNotTorrent) {
			t.Errorf("%s: %v, want ErrNotTorrent", name, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add(Make("x", []File{{Path: "a/b", Size: 3}}, func(int) []byte { return []byte("abc") }))
	f.Add([]byte("d4:infod4:name1:xee"))
	f.Fuzz(func(t *testing.T, b []byte) {
		Parse(b)
	})
}

func TestMagnetHash(t *testing.T) {
	for link, want := range map[string]string{
		"magnet:?xt=urn:btih:0123456789ABCDEF0123456789abcdef01234567&dn=x": "0123456789abcdef0123456789abcdef01234567",
		"magnet:?dn=x&xt=urn:btih:AEBAGBAFAYDQQCIKBMGA2DQPCAIREEYU":         "0102030405060708090a0b0c0d0e0f1011121314",
		"magnet:?xt=urn:btih:xyz":            "",
		"magnet:?dn=only":                    "",
		"https://example.com/?xt=urn:btih:0": "",
	} {
		got, ok := MagnetHash(link)
		if got != want || ok != (want != "") {
			t.Errorf("%s: %q %v, want %q", link, got, ok, want)
		}
	}
}
