package app

import (
	"io"
	"os"

	"github.com/mattn/go-isatty"
)

// colorWanted says whether console logs to w may carry ANSI colours: only
// on a terminal, and never with NO_COLOR set. `docker logs` and NAS log
// viewers read a pipe or a file, where escape codes show as garbage.
func colorWanted(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok || os.Getenv("NO_COLOR") != "" {
		return false
	}
	fd := f.Fd()
	return isatty.IsTerminal(fd) || isatty.IsCygwinTerminal(fd)
}
