package admin

import (
	"context"
	"net/http"
	"net/url"
	"strings"
)

// The share links over HTTP: the Handler's routes below shares, and the
// Client's calls to them (docs/admin-api.md, "Share links").

// SharesBody is the answer to GET shares.
type SharesBody struct {
	Shares []Share `json:"shares"`
}

// CancelsBody is the answer to DELETE shares?id=...
type CancelsBody struct {
	Results []ShareCancel `json:"results"`
}

// shareRoutes are the methods of rest ("shares" or "shares/{id}"), nil
// when it is neither.
func (h *Handler) shareRoutes(r *http.Request, rest string) methods {
	if rest == "shares" {
		return methods{http.MethodGet: h.listShares, http.MethodPost: h.createShare, http.MethodDelete: h.cancelShares}
	}
	id, ok := strings.CutPrefix(rest, "shares/")
	if !ok || id == "" || strings.Contains(id, "/") {
		return nil
	}
	r.SetPathValue("id", id)
	return methods{http.MethodGet: h.getShare, http.MethodPatch: h.updateShare, http.MethodDelete: h.cancelShare}
}

// shareAPI is the Handler's API's share links; every API of this
// package has them.
func (h *Handler) shareAPI(w http.ResponseWriter) (ShareAPI, bool) {
	sa, ok := h.api.(ShareAPI)
	if !ok {
		writeJSON(w, http.StatusNotImplemented, errorBody{"this pandav does not manage share links"})
	}
	return sa, ok
}

func (h *Handler) listShares(w http.ResponseWriter, r *http.Request) {
	sa, ok := h.shareAPI(w)
	if !ok {
		return
	}
	shares, err := sa.Shares(r.Context(), r.URL.Query()["mount"]...)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, SharesBody{Shares: shares})
}

func (h *Handler) createShare(w http.ResponseWriter, r *http.Request) {
	sa, ok := h.shareAPI(w)
	if !ok {
		return
	}
	var body ShareCreate
	if !decodeBody(w, r, &body, `{"paths": ["/aliyun/Movies"], "random_password": true, "expire": "7d"}`) {
		return
	}
	sh, err := sa.CreateShare(r.Context(), body)
	if err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set("Location", Prefix+"shares/"+url.PathEscape(sh.ID))
	writeJSON(w, http.StatusCreated, sh)
}

func (h *Handler) getShare(w http.ResponseWriter, r *http.Request) {
	sa, ok := h.shareAPI(w)
	if !ok {
		return
	}
	sh, err := sa.Share(r.Context(), r.PathValue("id"), r.URL.Query().Get("mount"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, sh)
}

func (h *Handler) updateShare(w http.ResponseWriter, r *http.Request) {
	sa, ok := h.shareAPI(w)
	if !ok {
		return
	}
	var body ShareChange
	if !decodeBody(w, r, &body, `{"password": "ab12", "expire": "never"}`) {
		return
	}
	sh, err := sa.UpdateShare(r.Context(), r.PathValue("id"), body)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, sh)
}

func (h *Handler) cancelShare(w http.ResponseWriter, r *http.Request) {
	sa, ok := h.shareAPI(w)
	if !ok {
		return
	}
	if _, err := sa.CancelShares(r.Context(), []string{r.PathValue("id")}, r.URL.Query().Get("mount")); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *Handler) cancelShares(w http.ResponseWriter, r *http.Request) {
	sa, ok := h.shareAPI(w)
	if !ok {
		return
	}
	ids := r.URL.Query()["id"]
	if len(ids) == 0 {
		writeJSON(w, http.StatusBadRequest, errorBody{"name the share links to cancel: DELETE shares?id=ID&id=ID"})
		return
	}
	res, err := sa.CancelShares(r.Context(), ids, r.URL.Query().Get("mount"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, CancelsBody{Results: res})
}

// CreateShare implements ShareAPI.
func (c *Client) CreateShare(ctx context.Context, sc ShareCreate) (Share, error) {
	var sh Share
	err := c.do(ctx, http.MethodPost, "shares", nil, sc, &sh, callTimeout+checkTimeout)
	return sh, err
}

// Shares implements ShareAPI.
func (c *Client) Shares(ctx context.Context, mounts ...string) ([]Share, error) {
	q := url.Values{}
	for _, m := range mounts {
		q.Add("mount", m)
	}
	var body SharesBody
	err := c.do(ctx, http.MethodGet, "shares", q, nil, &body, callTimeout+checkTimeout)
	return body.Shares, err
}

// Share implements ShareAPI.
func (c *Client) Share(ctx context.Context, id, mount string) (Share, error) {
	var sh Share
	err := c.do(ctx, http.MethodGet, "shares/"+url.PathEscape(id), mountQuery(mount), nil, &sh, callTimeout)
	return sh, err
}

// UpdateShare implements ShareAPI.
func (c *Client) UpdateShare(ctx context.Context, id string, sc ShareChange) (Share, error) {
	var sh Share
	err := c.do(ctx, http.MethodPatch, "shares/"+url.PathEscape(id), nil, sc, &sh, callTimeout)
	return sh, err
}

// CancelShares implements ShareAPI.
func (c *Client) CancelShares(ctx context.Context, ids []string, mount string) ([]ShareCancel, error) {
	if len(ids) == 1 {
		err := c.do(ctx, http.MethodDelete, "shares/"+url.PathEscape(ids[0]), mountQuery(mount), nil, nil, callTimeout)
		if err != nil {
			return nil, err
		}
		return []ShareCancel{{ID: ids[0], Cancelled: true}}, nil
	}
	q := mountQuery(mount)
	for _, id := range ids {
		q.Add("id", id)
	}
	var body CancelsBody
	err := c.do(ctx, http.MethodDelete, "shares", q, nil, &body, callTimeout+checkTimeout)
	return body.Results, err
}

func mountQuery(mount string) url.Values {
	q := url.Values{}
	if mount != "" {
		q.Set("mount", mount)
	}
	return q
}
