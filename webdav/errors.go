package webdav

import (
	"context"
	"errors"
	"math"
	"net/http"
	"os"
	"strconv"
	"time"

	"pandav/drivers"
	"pandav/internal/state"
)

// statusOf is the one place where errors become HTTP status codes. Above
// all, a cloud that throttles or fails must never look like a missing
// file: players drop "missing" files from their libraries.
func statusOf(err error) int {
	var lf *listingFailed
	var unavailable *drivers.UnavailableError
	switch {
	case errors.As(err, &unavailable), errors.Is(err, state.ErrUnavailable):
		return http.StatusServiceUnavailable
	case errors.Is(err, errPreconditionFailed):
		return http.StatusPreconditionFailed
	case errors.Is(err, drivers.ErrRateLimited), errors.As(err, &lf):
		return http.StatusServiceUnavailable
	case errors.Is(err, drivers.ErrNotFound), errors.Is(err, os.ErrNotExist):
		return http.StatusNotFound
	case errors.Is(err, errReadOnly), errors.Is(err, os.ErrPermission):
		return http.StatusForbidden
	case errors.Is(err, drivers.ErrNoSpace):
		return http.StatusInsufficientStorage
	case errors.Is(err, drivers.ErrTooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, drivers.ErrInvalidName):
		return http.StatusBadRequest
	case errors.Is(err, drivers.ErrExist), errors.Is(err, drivers.ErrIsDir):
		return http.StatusMethodNotAllowed
	case errors.Is(err, drivers.ErrUnsupported):
		return http.StatusNotImplemented
	case errors.Is(err, drivers.ErrUpstream), errors.Is(err, drivers.ErrAuth):
		return http.StatusBadGateway
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout
	}
	return http.StatusInternalServerError
}

// writeError answers with err's status and a one-line reason. The reason
// comes from our own error texts, which never carry tokens or signed URLs.
func writeError(w http.ResponseWriter, err error) {
	if rec, ok := w.(*logRecorder); ok {
		rec.err = err
	}
	code := statusOf(err)
	var unavailable *drivers.UnavailableError
	if errors.As(err, &unavailable) {
		// The drive's own words: why the file cannot be served, and
		// what to use instead.
		if unavailable.RetryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(unavailable.RetryAfter.Seconds()))))
		}
		http.Error(w, unavailable.Msg, code)
		return
	}
	if code == http.StatusServiceUnavailable {
		after, ok := drivers.RetryAfter(err)
		if !ok || after <= 0 {
			after = 10 * time.Second
		}
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(after.Seconds()))))
	}
	msg := http.StatusText(code)
	switch code {
	case http.StatusServiceUnavailable:
		msg = "the cloud is throttling requests; try again later"
		var lf *listingFailed
		switch {
		case errors.Is(err, state.ErrUnavailable):
			msg = "pandav's state store cannot be reached just now; nothing was changed; try again later"
		case errors.As(err, &lf):
			msg = "the cloud could not list this folder just now; try again later"
		}
	case http.StatusBadGateway:
		msg = "the cloud failed or refused pandav's login: " + err.Error()
	case http.StatusForbidden:
		msg = err.Error()
	case http.StatusInsufficientStorage:
		msg = "the drive is full; nothing was written"
	case http.StatusRequestEntityTooLarge:
		msg = "the file is larger than the cloud accepts; nothing was written"
	case http.StatusBadRequest:
		if errors.Is(err, drivers.ErrInvalidName) {
			msg = "the cloud refuses this name or request: " + err.Error()
		}
	}
	http.Error(w, msg, code)
}

// listingFailed is a folder the cloud failed to list after the driver's
// retries. It is answered 503 with Retry-After, as throttling is, and not
// 502: a media library or a sync tool takes any answer but "try again
// later" about a folder as final, and may drop what it holds for it
// (docs/protocols/user-demands.md §6, ostrm#59).
type listingFailed struct{ err error }

func (e *listingFailed) Error() string { return e.err.Error() }
func (e *listingFailed) Unwrap() error { return e.err }

// unlisted marks a listing's failure as listingFailed when the cloud, not
// the request, is at fault.
func unlisted(err error) error {
	if errors.Is(err, drivers.ErrUpstream) && !errors.Is(err, drivers.ErrRateLimited) {
		return &listingFailed{err}
	}
	return err
}
