package upstream

import (
	"net/http"

	"pandav/internal/httpclient"
)

// NewHTTPClient returns a client for API and CDN calls, with no overall
// timeout; callers bound each call with a context.
func NewHTTPClient() *http.Client { return httpclient.New() }
