package webdav

import (
	"context"

	"pandav/internal/auth"
)

// request is everything the Handler tells the FileSystem about the
// request being served beyond the context and name x/net/webdav passes
// on, and the one value pandav keeps in a request's context:
//   - userAgent: the client's User-Agent, which binds some links (a 115
//     link works only for the User-Agent that asked for it);
//   - user: who logged in, whose mounts bound what resolves (nil: no
//     login);
//   - askedProps: which computed properties a PROPFIND named;
//   - listMemo: the listings made for this PROPFIND (nil otherwise);
//   - put: what a PUT's headers say about its body (nil otherwise, as
//     when x/net/webdav creates a file for LOCK);
//   - cause: back the other way, the first cloud error behind a failed
//     write, which x/net/webdav would answer as 403, 404 or 405 whatever
//     it was (see statusWriter).
//
// It belongs to one request and is used by that request's goroutine.
type request struct {
	userAgent  string
	user       *auth.User
	askedProps askedProps
	listMemo   *listMemo
	put        *putInfo
	cause      error
}

type requestKey struct{}

func withRequest(ctx context.Context, q *request) context.Context {
	return context.WithValue(ctx, requestKey{}, q)
}

// requestOf returns the request ctx serves. Work that serves no request
// (Tick, a test calling the FileSystem) gets an empty one: no user, no
// User-Agent, nothing asked.
func requestOf(ctx context.Context) *request {
	if q, ok := ctx.Value(requestKey{}).(*request); ok {
		return q
	}
	return &request{}
}

// noteError records why a write failed, for the status code.
func noteError(ctx context.Context, err error) {
	if q := requestOf(ctx); q.cause == nil {
		q.cause = err
	}
}
