package strm

import "pandav/internal/strmlink"

// Options is a strm mount's `options:` block: source, extensions and
// base_url. `pandav strm sync` reads the same block, to write what the
// view shows, so it is defined beside the rules both follow.
type Options = strmlink.ViewOptions
