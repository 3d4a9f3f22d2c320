package memdrive

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"pandav/drivers"
	"pandav/drivers/internal/upstream"
	"pandav/internal/httpclient"
)

// request is one API call.
type request struct {
	method string
	path   string // below api_url, with IDs escaped
	query  url.Values
	body   any // sent as JSON unless nil
	// class is the pace the call takes; "" is apiClass. Listings take
	// listClass, which adds the account's scan budget.
	class string
}

// call runs r through d.caller, which paces it, signs it with the access
// token, refreshes a stale token once and retries what classify calls
// retryable, and decodes the answer into out (nil: not needed).
func (d *Drive) call(ctx context.Context, op string, r request, out any) error {
	var body []byte
	if r.body != nil {
		var err error
		if body, err = json.Marshal(r.body); err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
	}
	class := r.class
	if class == "" {
		class = apiClass
	}
	return d.caller.Call(ctx, op, class, func(ctx context.Context, token string) error {
		var content io.Reader
		if body != nil {
			content = bytes.NewReader(body) // each attempt sends it whole
		}
		req, err := d.newRequest(ctx, op, r.method, r.path, r.query, content, token)
		if err != nil {
			return err
		}
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		a, err := d.send.Send(req, op)
		if err != nil {
			return err
		}
		return classify(op, a, out)
	})
}

// newRequest builds a call to the API, signed with token unless it is "".
func (d *Drive) newRequest(ctx context.Context, op, method, path string, query url.Values, body io.Reader, token string) (*http.Request, error) {
	u := d.api + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", op, httpclient.Redact(err))
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Accept", "application/json")
	return req, nil
}

// classify is the one place that reads what an answer means, and so
// decides what is retried (docs/protocols/memdrive.md §5): a 5xx, or an answer that is
// not the cloud's JSON, is worth another try; a 401 wants a fresh token;
// the cloud's own refusals are final. Send has already made a 429
// Throttled, with its Retry-After, and a transport failure Transient.
func classify(op string, a upstream.Answer, out any) error {
	switch {
	case a.Status >= 500 && a.Status != http.StatusInsufficientStorage:
		// 507 is the cloud's word that the drive is full, which no retry
		// changes (docs/protocols/memdrive.md §4).
		return upstream.Transient(fmt.Errorf("%s: HTTP %d", op, a.Status))
	case a.Status == http.StatusUnauthorized:
		return fmt.Errorf("%s: %w", op, upstream.ErrStaleToken)
	case a.Status >= 400:
		var e errorAnswer
		if json.Unmarshal(a.Body, &e) != nil || e.Error.Code == "" {
			// A proxy's page, not the cloud's word (docs/protocols/memdrive.md §5).
			return upstream.Transient(fmt.Errorf("%s: HTTP %d without the cloud's error envelope", op, a.Status))
		}
		return &apiError{op: op, status: a.Status, code: e.Error.Code, message: e.Error.Message}
	case out == nil:
		return nil
	case json.Unmarshal(a.Body, out) != nil:
		// A proxy's HTML page with 200, most likely (docs/protocols/memdrive.md §5).
		return upstream.Transient(fmt.Errorf("%s: HTTP %d with an answer that is not JSON", op, a.Status))
	}
	if c, ok := out.(completer); ok {
		if err := c.incomplete(); err != nil {
			// Taken as it is, it would show a folder shorter or empty; it
			// is the cloud under load, so it is waited out as throttling.
			return upstream.Throttled(fmt.Errorf("%s: %w", op, err), 0)
		}
	}
	return nil
}

// completer is an answer that can tell it is not whole: a listing page
// without its items (docs/protocols/memdrive.md §5).
type completer interface {
	incomplete() error
}

// apiError is a refusal in the cloud's own words. Its message is safe to
// show: the cloud's messages hold no secrets (docs/protocols/memdrive.md §5).
type apiError struct {
	op, code, message string
	status            int
}

func (e *apiError) Error() string {
	return fmt.Sprintf("%s: memdrive answered %d %s: %s", e.op, e.status, e.code, e.message)
}

// Unwrap is the sentinel the code stands for, which the WebDAV layer maps
// to a status without knowing this cloud. A code the driver has no
// meaning for is the cloud failing, not the client.
func (e *apiError) Unwrap() error {
	if s, ok := sentinels[e.code]; ok {
		return s
	}
	return drivers.ErrUpstream
}

var sentinels = map[string]error{
	"not_found":     drivers.ErrNotFound,
	"name_exists":   drivers.ErrExist,
	"invalid_name":  drivers.ErrInvalidName,
	"invalid_grant": drivers.ErrAuth,
	// docs/protocols/memdrive.md §4: a file that does not fit the space
	// left, and one over the largest size the cloud takes.
	"quota_exceeded": drivers.ErrNoSpace,
	"too_large":      drivers.ErrTooLarge,
}
