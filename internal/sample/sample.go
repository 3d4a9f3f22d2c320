// Package sample fills an emulated drive with the demo tree that `pandav
// demo`, the integration tests and the benchmarks share: nested folders,
// names in Chinese, with emoji and with spaces, a 2,500-entry folder, a
// small real video and a 4 GiB file generated from a seed.
package sample

import (
	_ "embed"
	"fmt"
	"path"
	"strings"
	"time"

	"pandav/internal/fakecloud"
)

//go:embed testdata/sample.mp4
var video []byte

// Paths of the sample files, relative to the drive root.
const (
	VideoPath    = "/Movies/Sample Video.mp4"
	BigPath      = "/Big/big-4GiB.bin"
	ManyDir      = "/2500 files"
	ManyCount    = 2500
	UnicodePath  = "/中文 目录/子目录 🎬/说明 文档.txt"
	SubtitlePath = "/Movies/Sample Video.srt"
	ReadmePath   = "/README.txt"
	BigFileSeed  = 0x70616e646176 // "pandav"
	BigFileSize  = 4 << 30
	// BigFileSHA1 saves hashing 4 GiB at every start; TestBigFileSHA1
	// proves it.
	BigFileSHA1   = "4623B05055DB90F2F3709E4D6D7949B115890814"
	unicodeText   = "你好，pandav！🎬\n"
	subtitleText  = "1\n00:00:01,000 --> 00:00:04,000\nHello from pandav\n\n2\n00:00:05,000 --> 00:00:08,000\n你好\n"
	readmeText    = "This is the pandav demo drive. Everything here is served by an emulator.\n"
	manyFileBytes = 32
)

// Video is the sample video's bytes (an H.264/AAC MP4, 12 s).
func Video() []byte { return video }

// BigFile returns the 4 GiB generated file's content.
func BigFile() *fakecloud.SeededBlob {
	return fakecloud.NewSeededBlob(BigFileSeed, BigFileSize, BigFileSHA1)
}

// ManyName is the name of the i-th file of the 2,500-entry folder.
func ManyName(i int) string { return fmt.Sprintf("file %04d.txt", i) }

// ManyContent is the content of the i-th file of the 2,500-entry folder.
func ManyContent(i int) []byte {
	return []byte(fmt.Sprintf("%-*s\n", manyFileBytes-1, fmt.Sprintf("file %d of %d", i, ManyCount)))
}

// Fill adds the sample tree under the tree's root folder.
func Fill(t *fakecloud.Tree) error {
	files := []struct {
		path string
		blob fakecloud.Blob
	}{
		{ReadmePath, fakecloud.BytesBlob([]byte(readmeText))},
		{VideoPath, fakecloud.BytesBlob(video)},
		{SubtitlePath, fakecloud.BytesBlob([]byte(subtitleText))},
		{BigPath, BigFile()},
		{UnicodePath, fakecloud.BytesBlob([]byte(unicodeText))},
		{"/Documents/notes with spaces.txt", fakecloud.BytesBlob([]byte(strings.Repeat("notes ", 100)))},
		{"/Documents/深层/更深/最深 ✨/deep.txt", fakecloud.BytesBlob([]byte("deep\n"))},
	}
	for _, f := range files {
		if _, err := t.PutPath(f.path, f.blob); err != nil {
			return fmt.Errorf("sample %s: %w", f.path, err)
		}
	}
	if _, err := t.MkdirAll("/Empty Folder"); err != nil {
		return err
	}
	many, err := t.MkdirAll(ManyDir)
	if err != nil {
		return err
	}
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < ManyCount; i++ {
		if _, err := t.Put(many.ID, ManyName(i), fakecloud.BytesBlob(ManyContent(i)), base.Add(time.Duration(i)*time.Minute)); err != nil {
			return err
		}
	}
	return nil
}

// Join makes a path under a mount, for tests: Join("/115", VideoPath).
func Join(mount, p string) string { return path.Join(mount, p) }
