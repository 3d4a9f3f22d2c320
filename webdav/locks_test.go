package webdav

import (
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"pandav/drivers/memdrive/memdrivetest"
)

const sharedLockBody = `<?xml version="1.0" encoding="utf-8"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:shared/></D:lockscope><D:locktype><D:write/></D:locktype><D:owner>test</D:owner></D:lockinfo>`

const win32Proppatch = `<?xml version="1.0" encoding="utf-8" ?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:schemas-microsoft-com:"><D:set><D:prop>
<Z:Win32CreationTime>Wed, 01 Jan 2025 10:00:00 GMT</Z:Win32CreationTime>
<Z:Win32LastAccessTime>Wed, 01 Jan 2025 10:00:00 GMT</Z:Win32LastAccessTime>
<Z:Win32LastModifiedTime>Wed, 01 Jan 2025 10:00:00 GMT</Z:Win32LastModifiedTime>
<Z:Win32FileAttributes>00000020</Z:Win32FileAttributes>
</D:prop></D:set></D:propertyupdate>`

const win32Propfind = `<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><Z:Win32FileAttributes xmlns:Z="urn:schemas-microsoft-com:"/></D:prop></D:propfind>`

var lockTokenShape = regexp.MustCompile(`^<urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}>$`)

// TestExplorerSave replays Windows Explorer's save of a new file: a
// zero-byte PUT, LOCK, PROPPATCH of the Win32 times and attributes,
// HEAD, the PUT of the content with the lock's token, UNLOCK, GET. Every
// step succeeds, the properties set on the placeholder are the stored
// file's afterwards, and the cloud sees one upload.
func TestExplorerSave(t *testing.T) {
	e := newEnv(t)
	const p = "/fake/Report.docx"
	const content = "the document's bytes"
	if resp := e.do(t, "PUT", p, nil, ""); resp.StatusCode != http.StatusCreated {
		t.Fatalf("zero-byte PUT: %d", resp.StatusCode)
	}
	lock := e.do(t, "LOCK", p, map[string]string{"Timeout": "Second-3600"}, lockBody)
	token := lock.Header.Get("Lock-Token")
	if lock.StatusCode != http.StatusOK || !lockTokenShape.MatchString(token) {
		t.Fatalf("LOCK: %d, token %q", lock.StatusCode, token)
	}
	pp := e.do(t, "PROPPATCH", p, map[string]string{"If": "(" + token + ")"}, win32Proppatch)
	if out := readAll(t, pp); pp.StatusCode != http.StatusMultiStatus || strings.Contains(out, "403") || strings.Count(out, "200 OK") != 1 {
		t.Fatalf("PROPPATCH of the placeholder: %d %s", pp.StatusCode, out)
	}
	if resp := e.do(t, "HEAD", p, nil, ""); resp.StatusCode != http.StatusOK {
		t.Fatalf("HEAD: %d", resp.StatusCode)
	}
	if resp := e.do(t, "PUT", p, map[string]string{"If": "(" + token + ")"}, content); resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusNoContent {
		t.Fatalf("PUT with the token: %d", resp.StatusCode)
	}
	if resp := e.do(t, "UNLOCK", p, map[string]string{"Lock-Token": token}, ""); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("UNLOCK: %d", resp.StatusCode)
	}
	if got := readAll(t, e.do(t, "GET", p, nil, "")); got != content {
		t.Fatalf("GET: %q", got)
	}
	if out := readAll(t, e.do(t, "PROPFIND", p, map[string]string{"Depth": "0"}, win32Propfind)); !strings.Contains(out, "00000020") {
		t.Fatalf("the placeholder's properties did not travel with its content: %s", out)
	}
	if n := e.calls(memdrivetest.EndpointUpload); n != 1 {
		t.Fatalf("%d cloud uploads, want 1", n)
	}
}

// TestHeldFilesAnswerAsStored: a placeholder, a system file kept in
// memory and an upload in progress answer PROPFIND, PROPPATCH, LOCK,
// UNLOCK, COPY, MOVE and DELETE as a stored file does.
func TestHeldFilesAnswerAsStored(t *testing.T) {
	e := newEnv(t)
	e.do(t, "PUT", "/fake/stored.txt", nil, "x")
	e.do(t, "PUT", "/fake/placeholder.txt", nil, "")
	e.do(t, "PUT", "/fake/.DS_Store", nil, "finder")
	for _, name := range []string{"stored.txt", "placeholder.txt", ".DS_Store"} {
		t.Run(name, func(t *testing.T) {
			p := "/fake/" + name
			steps := []struct {
				method string
				path   string
				hdr    map[string]string
				body   string
				want   int
			}{
				{"PROPFIND", p, map[string]string{"Depth": "0"}, "", 207},
				{"PROPPATCH", p, nil, win32Proppatch, 207},
				{"LOCK", p, nil, lockBody, 200},
				{"COPY", p, map[string]string{"Destination": p + ".copy"}, "", 201},
				{"PROPFIND", p + ".copy", map[string]string{"Depth": "0"}, win32Propfind, 207},
				{"MOVE", p + ".copy", map[string]string{"Destination": p + ".moved"}, "", 201},
				{"PROPFIND", p + ".moved", map[string]string{"Depth": "0"}, win32Propfind, 207},
				{"DELETE", p + ".moved", nil, "", 204},
			}
			for _, s := range steps {
				resp := e.do(t, s.method, s.path, s.hdr, s.body)
				out := readAll(t, resp)
				if resp.StatusCode != s.want || strings.Contains(out, "403 Forbidden") {
					t.Fatalf("%s %s: %d %s", s.method, s.path, resp.StatusCode, out)
				}
				if strings.Contains(s.body, "Win32FileAttributes/") && !strings.Contains(out, "00000020") {
					t.Fatalf("%s %s: the dead property did not follow: %s", s.method, s.path, out)
				}
				if s.method == "LOCK" {
					if r := e.do(t, "UNLOCK", p, map[string]string{"Lock-Token": resp.Header.Get("Lock-Token")}, ""); r.StatusCode != 204 {
						t.Fatalf("UNLOCK: %d", r.StatusCode)
					}
				}
			}
		})
	}

	// An upload in progress: listed, and its properties wait for it.
	pr, pw := io.Pipe()
	req, _ := http.NewRequest("PUT", e.srv.URL+"/fake/big.bin", pr)
	req.ContentLength = 10
	putDone := make(chan int)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			putDone <- 0
			return
		}
		resp.Body.Close()
		putDone <- resp.StatusCode
	}()
	pw.Write([]byte("01234"))
	for deadline := time.Now().Add(5 * time.Second); e.fs.inflight("/fake/big.bin") == nil; {
		if time.Now().After(deadline) {
			t.Fatal("the upload never started")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if out := readAll(t, e.do(t, "PROPFIND", "/fake/", map[string]string{"Depth": "1"}, "")); !strings.Contains(out, "/fake/big.bin<") {
		t.Fatalf("an upload in progress is not listed: %s", out)
	}
	if resp := e.do(t, "PROPPATCH", "/fake/big.bin", nil, win32Proppatch); resp.StatusCode != 207 || strings.Contains(readAll(t, resp), "403") {
		t.Fatalf("PROPPATCH of an upload in progress: %d", resp.StatusCode)
	}
	var wg sync.WaitGroup
	var lockStatus int
	var lockToken string
	wg.Add(1)
	go func() {
		defer wg.Done()
		resp, err := http.DefaultClient.Do(mustRequest(t, "LOCK", e.srv.URL+"/fake/big.bin", lockBody))
		if err == nil {
			resp.Body.Close()
			lockStatus, lockToken = resp.StatusCode, resp.Header.Get("Lock-Token")
		}
	}()
	time.Sleep(50 * time.Millisecond)
	pw.Write([]byte("56789"))
	pw.Close()
	if code := <-putDone; code != http.StatusCreated {
		t.Fatalf("PUT: %d", code)
	}
	wg.Wait()
	if lockStatus != http.StatusOK {
		t.Fatalf("LOCK of an upload in progress: %d", lockStatus)
	}
	if out := readAll(t, e.do(t, "PROPFIND", "/fake/big.bin", map[string]string{"Depth": "0"}, win32Propfind)); !strings.Contains(out, "00000020") {
		t.Fatalf("the properties set during the upload were lost: %s", out)
	}
	if resp := e.do(t, "UNLOCK", "/fake/big.bin", map[string]string{"Lock-Token": lockToken}, ""); resp.StatusCode != 204 {
		t.Fatalf("UNLOCK: %d", resp.StatusCode)
	}
}

func mustRequest(t *testing.T, method, url, body string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// TestSharedLocks: several shared locks on one resource; an exclusive one
// is refused while they are held, and a shared one while an exclusive
// one is. Every token is a urn:uuid: and unique.
func TestSharedLocks(t *testing.T) {
	e := newEnv(t)
	e.do(t, "PUT", "/fake/s.txt", nil, "x")
	seen := map[string]bool{}
	lock := func(body string, want int) string {
		t.Helper()
		resp := e.do(t, "LOCK", "/fake/s.txt", nil, body)
		if resp.StatusCode != want {
			t.Fatalf("LOCK: %d, want %d", resp.StatusCode, want)
		}
		tok := resp.Header.Get("Lock-Token")
		if want == http.StatusOK {
			if !lockTokenShape.MatchString(tok) || seen[tok] {
				t.Fatalf("token %q: not a fresh urn:uuid", tok)
			}
			seen[tok] = true
		}
		return tok
	}
	unlock := func(tok string) {
		t.Helper()
		if resp := e.do(t, "UNLOCK", "/fake/s.txt", map[string]string{"Lock-Token": tok}, ""); resp.StatusCode != http.StatusNoContent {
			t.Fatalf("UNLOCK: %d", resp.StatusCode)
		}
	}
	a := lock(sharedLockBody, http.StatusOK)
	b := lock(sharedLockBody, http.StatusOK)
	lock(lockBody, http.StatusLocked)
	out := readAll(t, e.do(t, "PROPFIND", "/fake/s.txt", map[string]string{"Depth": "0"},
		`<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:lockdiscovery/><D:supportedlock/></D:prop></D:propfind>`))
	for _, want := range []string{strings.Trim(a, "<>"), strings.Trim(b, "<>"), "shared"} {
		if !strings.Contains(out, want) {
			t.Fatalf("lockdiscovery lacks %s: %s", want, out)
		}
	}
	if resp := e.do(t, "PUT", "/fake/s.txt", nil, "y"); resp.StatusCode != http.StatusLocked {
		t.Fatalf("PUT without a token under shared locks: %d", resp.StatusCode)
	}
	if resp := e.do(t, "PUT", "/fake/s.txt", map[string]string{"If": "(" + b + ")"}, "y"); resp.StatusCode >= 300 {
		t.Fatalf("PUT with one shared lock's token: %d", resp.StatusCode)
	}
	unlock(a)
	unlock(b)
	x := lock(lockBody, http.StatusOK)
	lock(sharedLockBody, http.StatusLocked)
	unlock(x)
}

// TestLocksSurviveRestart: a lock is kept in state_dir and holds after a
// restart, until it expires.
func TestLocksSurviveRestart(t *testing.T) {
	e := newEnv(t)
	e.do(t, "PUT", "/fake/r.txt", nil, "x")
	e.do(t, "PUT", "/fake/short.txt", nil, "x")
	tok := e.do(t, "LOCK", "/fake/r.txt", map[string]string{"Timeout": "Second-600"}, lockBody).Header.Get("Lock-Token")
	e.do(t, "LOCK", "/fake/short.txt", map[string]string{"Timeout": "Second-1"}, lockBody)
	time.Sleep(1100 * time.Millisecond)

	fs2, err := NewFileSystem([]MountSpec{{Path: "/fake", Drive: e.fs.mounts[0].drive}}, e.fs.o)
	if err != nil {
		t.Fatal(err)
	}
	locks := fs2.locks.on(time.Now(), "/fake/r.txt")
	if len(locks) != 1 || "<"+locks[0].Token+">" != tok {
		t.Fatalf("after a restart: %+v", locks)
	}
	if fs2.locks.covers("/fake/short.txt") {
		t.Fatal("an expired lock came back")
	}
}
