package pan115test

import (
	"io"
	"os"
)

// fileBlob is uploaded content kept in a temp file, so that an upload of
// a gigabyte does not sit in the emulator's memory. The file is written
// once, before the blob exists, and closed when the server closes.
type fileBlob struct {
	f   *os.File
	n   int64
	sum string
}

func (b *fileBlob) Size() int64  { return b.n }
func (b *fileBlob) SHA1() string { return b.sum }

func (b *fileBlob) ReadAt(p []byte, off int64) (int, error) {
	if off >= b.n {
		return 0, io.EOF
	}
	want := p
	if rest := b.n - off; int64(len(want)) > rest {
		want = want[:rest]
	}
	n, err := b.f.ReadAt(want, off)
	if err == nil && n < len(p) {
		err = io.EOF
	}
	return n, err
}
