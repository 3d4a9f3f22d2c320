package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Client is the API of a running pandav, over HTTP.
type Client struct {
	// BaseURL is the server's address, such as http://127.0.0.1:8080.
	BaseURL string
	// User and Password are an admin's, when the server has users.
	User, Password string
	// HTTP carries the requests; nil is http.DefaultClient.
	HTTP *http.Client
}

var _ API = (*Client)(nil)

// callTimeout bounds a call that does not wait on purpose; a long poll
// gets its wait on top.
const callTimeout = 30 * time.Second

// Mounts implements API.
func (c *Client) Mounts(ctx context.Context) ([]MountInfo, error) {
	var body MountsBody
	err := c.do(ctx, http.MethodGet, "mounts", nil, nil, &body, callTimeout)
	return body.Mounts, err
}

// StartLogin implements API.
func (c *Client) StartLogin(ctx context.Context, mount, kind string) (Login, error) {
	var l Login
	err := c.do(ctx, http.MethodPost, "logins", nil, StartLoginBody{Mount: mount, Kind: kind}, &l, callTimeout)
	return l, err
}

// Login implements API.
func (c *Client) Login(ctx context.Context, id, last string, wait time.Duration) (Login, error) {
	q := url.Values{}
	if wait > 0 {
		q.Set("wait", wait.String())
	}
	if last != "" {
		q.Set("last", last)
	}
	var l Login
	err := c.do(ctx, http.MethodGet, "logins/"+url.PathEscape(id), q, nil, &l, callTimeout+wait)
	return l, err
}

// CancelLogin implements API.
func (c *Client) CancelLogin(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, "logins/"+url.PathEscape(id), nil, nil, nil, callTimeout)
}

// Check implements API.
func (c *Client) Check(ctx context.Context, mounts ...string) (Report, error) {
	q := url.Values{}
	for _, m := range mounts {
		q.Add("mount", m)
	}
	var r Report
	err := c.do(ctx, http.MethodGet, "check", q, nil, &r, callTimeout+checkTimeout)
	return r, err
}

func (c *Client) do(ctx context.Context, method, path string, q url.Values, in, out any, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	u := strings.TrimSuffix(c.BaseURL, "/") + Prefix + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if method != http.MethodGet {
		req.Header.Set(CSRFHeader, "1")
	}
	req.Header.Set("Accept", "application/json")
	if c.User != "" {
		req.SetBasicAuth(c.User, c.Password)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("the pandav at %s did not answer: %w", c.BaseURL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("the pandav at %s: reading its answer: %w", c.BaseURL, err)
	}
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if resp.StatusCode >= 300 {
		var e errorBody
		if mt != "application/json" || json.Unmarshal(b, &e) != nil || e.Error == "" {
			return &Error{Status: resp.StatusCode, Msg: fmt.Sprintf("the server at %s answered %s to %s %s, not the admin API's JSON: is it an older pandav?", c.BaseURL, resp.Status, method, Prefix+path)}
		}
		return &Error{Status: resp.StatusCode, Msg: e.Error}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("the pandav at %s sent an answer that is not the admin API's JSON: %w", c.BaseURL, err)
	}
	return nil
}
