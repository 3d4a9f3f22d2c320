// Package httpclient makes the HTTP clients pandav talks to clouds and
// CDNs with.
package httpclient

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// New returns a client for API and CDN calls. It has no overall
// timeout, because a CDN body may stream for hours; callers bound each call
// with a context instead.
func New() *http.Client {
	return &http.Client{Transport: NewTransport()}
}

// NewTransport is tuned for object stores: OSS drops idle keep-alives after
// 60 s, so ours go first at 50 s, and a stalled header fails in 30 s.
func NewTransport() *http.Transport {
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       50 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
}

// Redact strips what a transport error prints that must not reach a log
// or a client: the *url.Error wrapper, whose text holds the full URL (a
// signed link, a renew URL with a refresh token in its query), and the
// addresses a *net.OpError names.
func Redact(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var ops []string
	for {
		var oe *net.OpError
		if !errors.As(err, &oe) || oe.Err == nil {
			break
		}
		ops = append(ops, oe.Op)
		err = oe.Err
	}
	if len(ops) > 0 {
		return fmt.Errorf("%s: %v", strings.Join(ops, ": "), err)
	}
	return err
}
