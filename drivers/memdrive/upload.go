package memdrive

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync/atomic"
	"time"

	"pandav/drivers"
	"pandav/drivers/internal/upstream"
)

// Upload streams src to the cloud in one PUT (docs/protocols/memdrive.md §4). It needs
// neither the hash up front nor random access, so it implements no
// drivers.UploadRequirer, and the WebDAV layer hands it the client's
// body as it arrives, without spooling it to disk. A namesake in parent
// stays: the cloud keeps both and lists the new one first, which is what
// the WebDAV layer's overwrite (upload, then remove the old) relies on.
func (d *Drive) Upload(ctx context.Context, parent drivers.Entry, name string, src drivers.UploadSource) (drivers.Entry, error) {
	op := fmt.Sprintf("memdrive upload %q into %s", name, parent.ID)
	size := src.Size()
	body := &onceBody{r: src}
	// An attempt lasts as long as the body streams: a minute, and a second
	// per 64 KiB, so a slow client is not cut off and a dead link still is.
	send := d.send
	send.Timeout = time.Minute + time.Duration(size/(64<<10))*time.Second
	q := url.Values{"parent_id": {parent.ID}, "name": {name}}
	var f file
	err := d.caller.Call(ctx, op, apiClass, func(ctx context.Context, token string) error {
		var content io.Reader = http.NoBody // else a 0 length would read as "unknown"
		if size > 0 {
			content = body
		}
		req, err := d.newRequest(ctx, op, http.MethodPut, "/v1/upload", q, content, token)
		if err != nil {
			return err
		}
		req.ContentLength = size
		if size > 0 {
			// The cloud answers a refusal (401, 429) before the body
			// goes, so the body is still unread and the call can be
			// made again.
			req.Header.Set("Expect", "100-continue")
		}
		if sum := src.SHA1(); sum != "" {
			req.Header.Set("X-Content-SHA1", sum) // the cloud checks it
		}
		a, err := send.Send(req, op)
		if err == nil {
			err = classify(op, a, &f)
		}
		return body.lastIfRead(err)
	})
	if err != nil {
		return drivers.Entry{}, err
	}
	return f.entry(), nil
}

// onceBody is the upload's content, which can be read only once: an
// attempt that read any of it cannot be made again.
type onceBody struct {
	r io.Reader
	// read is atomic because the transport reads the body in a goroutine
	// of its own; it is set before the first byte is taken.
	read atomic.Bool
}

func (b *onceBody) Read(p []byte) (int, error) {
	b.read.Store(true)
	return b.r.Read(p)
}

// lastIfRead makes an attempt's retryable error final once any of the
// body is gone: another attempt would send the rest as a whole file.
func (b *onceBody) lastIfRead(err error) error {
	var r *upstream.Retryable
	if err == nil || !b.read.Load() || !errors.As(err, &r) && !errors.Is(err, upstream.ErrStaleToken) {
		return err
	}
	return fmt.Errorf("%v: %w (the body had begun to go, and a stream cannot be sent twice)", err, drivers.ErrUpstream)
}
