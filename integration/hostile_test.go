package integration

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"pandav/internal/demo"
	"strings"
	"testing"
	"time"
)

// hostile is one hostile request and what a correct answer is.
type hostile struct {
	name, method, target string
	headers              []string // raw "Name: value" lines
	body                 string
	// want is the exact status expected; 0 means any 4xx.
	want int
}

// sendRaw writes a request exactly as given, past any client's
// normalisation, and returns the status (0 if the server closed the
// connection without an answer).
func sendRaw(t testing.TB, addr string, h hostile) int {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(60 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n", h.method, h.target, addr, len(h.body))
	for _, hd := range h.headers {
		b.WriteString(hd + "\r\n")
	}
	b.WriteString("\r\n")
	b.WriteString(h.body)
	go io.Copy(conn, strings.NewReader(b.String())) // the server may answer before reading it all
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestHostileInput sends hostile requests to the real binary on every
// mount: path traversal in its spellings, Destinations outside the mount
// or on another mount, names a cloud forbids, over-long names, XML bodies
// over 1 MiB and with entity expansion, Depth: infinity, more locks than
// locks.max_per_user, headers over 64 KiB and a slowloris client. Each
// must be refused, and none may cost a cloud call (checked on the
// emulators' counters).
func TestHostileInput(t *testing.T) {
	t.Parallel()
	c := startClouds(t, cloudOptions{})
	cfg, _ := c.WriteConfigWith(t, serveOptions{Locks: "{max_per_user: 3}"})
	p := startServe(t, cfg)

	laughs := `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">` +
		`<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;"><!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">]>` +
		`<D:propfind xmlns:D="DAV:"><D:prop><D:displayname>&lol4;</D:displayname></D:prop></D:propfind>`
	bigXML := `<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop>` + strings.Repeat("<D:displayname/>", 70000) + `</D:prop></D:propfind>`
	lockBody := `<?xml version="1.0" encoding="utf-8"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype><D:owner>hostile</D:owner></D:lockinfo>`
	xmlCT := "Content-Type: application/xml"

	total, through := 0, 0
	for _, cl := range c.Each() {
		m, other := demo.MountPath(cl), demo.MountPath(c.other(cl))
		cases := []hostile{
			{name: "dot-dot", method: "GET", target: m + "/../" + other[1:] + "/README.txt"},
			{name: "%2e%2e", method: "GET", target: m + "/%2e%2e" + other + "/README.txt"},
			{name: "%2E%2E deep", method: "GET", target: m + "/Documents/%2E%2E/%2E%2E/%2E%2E/etc/passwd"},
			{name: "backslash", method: "GET", target: m + "/Documents\\..\\..\\etc\\passwd"},
			{name: "%5c", method: "GET", target: m + "/Documents%5c..%5c..%5cetc%5cpasswd"},
			{name: "NUL", method: "GET", target: m + "/README.txt%00.mkv"},
			{name: "overlong UTF-8", method: "GET", target: m + "/%c0%ae%c0%ae/%c0%ae%c0%ae/etc/passwd"},
			{name: "dot segment", method: "PROPFIND", target: m + "/./Documents", headers: []string{"Depth: 1"}},
			{name: "Destination traversal", method: "MOVE", target: m + "/README.txt", headers: []string{"Destination: " + m + "/../" + other[1:] + "/x.txt"}},
			{name: "Destination other mount (MOVE)", method: "MOVE", target: m + "/README.txt", headers: []string{"Destination: " + other + "/x.txt"}},
			{name: "Destination other mount (COPY)", method: "COPY", target: m + "/README.txt", headers: []string{"Destination: " + other + "/x.txt"}},
			{name: "Destination ftp", method: "MOVE", target: m + "/README.txt", headers: []string{"Destination: ftp://h" + m + "/x.txt"}},
			{name: "Destination root", method: "MOVE", target: m + "/README.txt", headers: []string{"Destination: /"}},
			{name: "Destination NUL", method: "MOVE", target: m + "/README.txt", headers: []string{"Destination: " + m + "/x%00.txt"}},
			{name: "move mount", method: "MOVE", target: m, headers: []string{"Destination: " + m + "2"}},
			{name: "delete mount", method: "DELETE", target: m},
			{name: "delete root", method: "DELETE", target: "/"},
			{name: "PUT collection name", method: "PUT", target: m + "/Documents/"},
			{name: "Depth infinity", method: "PROPFIND", target: m + "/", headers: []string{"Depth: infinity"}, want: http.StatusForbidden},
			{name: "entity expansion", method: "PROPFIND", target: m + "/", headers: []string{"Depth: 0", xmlCT}, body: laughs},
			{name: "entity expansion PROPPATCH", method: "PROPPATCH", target: m + "/README.txt", headers: []string{xmlCT}, body: laughs},
			{name: "XML over 1 MiB", method: "PROPFIND", target: m + "/", headers: []string{"Depth: 0", xmlCT}, body: bigXML},
			{name: "XML over 1 MiB LOCK", method: "LOCK", target: m + "/big-lock.txt", headers: []string{xmlCT}, body: bigXML},
		}
		if rules, ok := cl.(nameRules); ok {
			longName := strings.Repeat("n", rules.MaxNameBytes()+50)
			cases = append(cases,
				hostile{name: "over-long name PUT", method: "PUT", target: m + "/" + longName + ".txt", body: "x"},
				hostile{name: "over-long name MKCOL", method: "MKCOL", target: m + "/d" + longName},
			)
			for _, bad := range strings.Split(rules.ForbiddenNameChars(), "") {
				esc := url.PathEscape(bad)
				cases = append(cases,
					hostile{name: cl.Name() + " forbids " + bad + " (PUT)", method: "PUT", target: m + "/a" + esc + "b.txt", body: "x", want: http.StatusBadRequest},
					hostile{name: cl.Name() + " forbids " + bad + " (MKCOL)", method: "MKCOL", target: m + "/dir" + esc + "x", want: http.StatusBadRequest},
					hostile{name: cl.Name() + " forbids " + bad + " (MOVE)", method: "MOVE", target: m + "/README.txt", headers: []string{"Destination: " + m + "/r" + esc + ".txt"}, want: http.StatusBadRequest},
				)
			}
		}
		t.Run(cl.Name(), func(t *testing.T) {
			// Warm pandav's cache, so that any cloud call below is one a
			// hostile request caused.
			propfind(t, p.URL(m+"/"), "1")
			propfind(t, p.URL(m+"/Documents/"), "1")
			davDo(t, "PROPFIND", p.URL(m+"/README.txt"), map[string]string{"Depth": "0"}, "")
			for _, h := range cases {
				before := snapshots(c)
				code := sendRaw(t, p.Addr, h)
				after := snapshots(c)
				total++
				ok := code >= 400 && code < 500 && (h.want == 0 || code == h.want)
				if before != after {
					t.Errorf("%s: %s %.80s reached a cloud:\n before %s\n after  %s", h.name, h.method, h.target, before, after)
					ok = false
				}
				if !ok {
					through++
					t.Errorf("%s: %s %.80s answered %d, want %s", h.name, h.method, h.target, code, wantText(h.want))
				}
			}

			// More locks than max_per_user: the fourth is refused.
			before := snapshots(c)
			var tokens []string
			refused := 0
			for i := range 5 {
				resp, _ := davDo(t, "LOCK", p.URL(fmt.Sprintf("%s/lock-%d.txt", m, i)), map[string]string{"Timeout": "Second-60"}, lockBody)
				total++
				if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusCreated {
					tokens = append(tokens, resp.Header.Get("Lock-Token"))
					if i >= 3 {
						through++
						t.Errorf("LOCK %d granted beyond max_per_user 3", i+1)
					}
				} else {
					refused++
					if i < 3 {
						t.Errorf("LOCK %d refused (%s) within max_per_user 3", i+1, resp.Status)
					}
				}
			}
			for i, tok := range tokens {
				resp, _ := davDo(t, "UNLOCK", p.URL(fmt.Sprintf("%s/lock-%d.txt", m, i)), map[string]string{"Lock-Token": tok}, "")
				if resp.StatusCode != http.StatusNoContent {
					t.Errorf("UNLOCK lock-%d: %s", i, resp.Status)
				}
			}
			if after := snapshots(c); after != before {
				t.Errorf("locks on unmapped names reached a cloud:\n before %s\n after  %s", before, after)
			}
			t.Logf("%s: locks beyond the cap: %d refused", cl.Name(), refused)
		})
	}

	t.Run("headers over 64 KiB", func(t *testing.T) {
		before := snapshots(c)
		code := sendRaw(t, p.Addr, hostile{method: "PROPFIND", target: demo.MountPath(c.Each()[0]) + "/", headers: []string{"X-Big: " + strings.Repeat("a", 70<<10)}})
		total++
		if code != http.StatusRequestHeaderFieldsTooLarge {
			through++
			t.Errorf("70 KiB of headers: %d, want 431", code)
		}
		if after := snapshots(c); after != before {
			t.Errorf("reached a cloud")
		}
	})
	t.Run("slowloris", func(t *testing.T) {
		total++
		if !slowlorisCut(t, p.Addr, 20*time.Second) {
			through++
		}
	})
	t.Logf("%d hostile requests, %d got through", total, through)
}

func wantText(code int) string {
	if code == 0 {
		return "a 4xx"
	}
	return fmt.Sprint(code)
}

// snapshots renders every emulator's call counters.
func snapshots(c *clouds) string {
	var b strings.Builder
	for _, cl := range c.Each() {
		fmt.Fprint(&b, cl.Counters().Snapshot())
	}
	return b.String()
}

// nameRules is a cloud that limits the names it takes; pandav must refuse
// a name that breaks them before any call.
type nameRules interface {
	// MaxNameBytes is the longest name, in bytes.
	MaxNameBytes() int
	// ForbiddenNameChars are the characters, besides "/", no name may
	// hold.
	ForbiddenNameChars() string
}

// slowlorisCut sends a request's headers a byte every 500 ms for up to
// limit and reports whether the server cut the connection first, as its
// 10 s header timeout must.
func slowlorisCut(t *testing.T, addr string, limit time.Duration) bool {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	closed := make(chan time.Duration, 1)
	go func() {
		buf := make([]byte, 512)
		for {
			if _, err := conn.Read(buf); err != nil {
				closed <- time.Since(start)
				return
			}
		}
	}()
	msg := "GET / HTTP/1.1\r\nHost: x\r\nX-Slow: " + strings.Repeat("z", 100)
	for i := 0; time.Since(start) < limit; i++ {
		select {
		case d := <-closed:
			t.Logf("slowloris: the server cut the connection after %s and %d header bytes", d.Round(100*time.Millisecond), i)
			return true
		default:
		}
		if _, err := conn.Write([]byte{msg[i%len(msg)]}); err != nil {
			t.Logf("slowloris: the server cut the connection after %s (write failed)", time.Since(start).Round(100*time.Millisecond))
			return true
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Errorf("slowloris: the connection was still open after %s of byte-by-byte headers", limit)
	return false
}
