package main

import (
	"io"
	"strings"

	qrcode "github.com/skip2/go-qrcode"
)

// drawQR draws text as a QR code in the terminal, two rows of modules to
// a line of half blocks, with the quiet zone the scanners need.
func drawQR(w io.Writer, text string) error {
	code, err := qrcode.New(text, qrcode.Low)
	if err != nil {
		return err
	}
	_, err = io.WriteString(w, halfBlocks(code.Bitmap()))
	return err
}

// halfBlocks draws a bitmap (true = a dark module) with the light modules
// as blocks: most terminals write light text on a dark background, so
// the code comes out dark on light, as printed codes are. Phones' scanners
// read it inverted too, on a light terminal.
func halfBlocks(bm [][]bool) string {
	var b strings.Builder
	light := func(y, x int) bool { return y < len(bm) && !bm[y][x] }
	for y := 0; y < len(bm); y += 2 {
		for x := range bm[y] {
			switch top, bottom := light(y, x), light(y+1, x); {
			case top && bottom:
				b.WriteString("█")
			case top:
				b.WriteString("▀")
			case bottom:
				b.WriteString("▄")
			default:
				b.WriteByte(' ')
			}
		}
		b.WriteByte('\n')
	}
	return b.String()
}
