package drivers

// InlineContenter is a drive that makes some of its files itself, such
// as the strm view's .strm files, whose content is a URL. The WebDAV
// layer serves such a file's bytes from InlineContent and never asks for
// a Link, so reading it costs no cloud call.
type InlineContenter interface {
	// InlineContent returns f's bytes, or ok=false when f is an ordinary
	// file whose bytes are behind a Link. The bytes are made when asked,
	// so they may change (a rotated signing key) while f's listing is
	// cached; len(data) equals f.Size.
	InlineContent(f Entry) (data []byte, ok bool)
}
