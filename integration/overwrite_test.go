package integration

import (
	"bytes"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"pandav/internal/demo"
	"pandav/internal/fakecloud"
)

// overwriteSize is the size of the files the overwrite tests replace:
// several upload parts with the part sizes set below.
const overwriteSize = 3<<20 + 12345

// overwriteCases are the ways an overwrite can fail half way.
var overwriteCases = []string{"part-fault", "complete-fault", "client-gone"}

// TestOverwriteFailure overwrites an existing file on each mount and makes
// the overwrite fail in the middle: the object store fails every part
// after the first, or the final "complete" call fails, or the client
// hangs up half way through the body. Each time the old file must still
// be there, byte-exact, in the cloud and through pandav, and no partial
// file may be listed. Part sizes are set to 1 MiB so that a small file
// has several parts.
func TestOverwriteFailure(t *testing.T) {
	t.Parallel()
	extra := map[string]fakecloud.Blob{}
	for i, name := range overwriteCases {
		extra["/Overwrite/"+name+".bin"] = fakecloud.NewSeededBlob(uint64(100+i), overwriteSize, "")
	}
	c := fastClouds(t, extra)
	cfg, stateDir := c.WriteConfigWith(t, serveOptions{Fast: true, PartSize: 1 << 20})
	p := startServe(t, cfg)
	newContent := make([]byte, overwriteSize)
	fakecloud.NewSeededBlob(999, overwriteSize, "").ReadAt(newContent, 0)

	t.Run("mounts", func(t *testing.T) {
		for _, cl := range c.Each() {
			t.Run(cl.Name(), func(t *testing.T) {
				t.Parallel()
				overwriteFailures(t, c, cl, p, newContent)
			})
		}
	})
	// A fresh pandav sees the same, and no spool file is left.
	p.Stop()
	p2 := startServe(t, cfg)
	for _, cl := range c.Each() {
		checkOldFiles(t, p2, demo.MountPath(cl)+"/Overwrite/", cl.Tree())
	}
	if left, _ := filepath.Glob(filepath.Join(stateDir, "spool", "*")); len(left) > 0 {
		t.Errorf("spool files left behind: %v", left)
	}
}

func overwriteFailures(t *testing.T, c *clouds, cl fakecloud.Cloud, p *pandavProc, newContent []byte) {
	dir := demo.MountPath(cl) + "/Overwrite/"
	before := cloudHashes(t, cl.Tree(), "/Overwrite")
	propfind(t, p.URL(dir), "1") // the old files are known to pandav

	// A cloud that takes a file in one request (Part and Complete are
	// "") fails that request instead: it is every part, and the last.
	ep := cl.Endpoints()
	partEP, completeEP, partsBefore := ep.Part, ep.Complete, int64(1)
	if partEP == "" {
		partEP, partsBefore = ep.Upload, 0
	}
	if completeEP == "" {
		completeEP = ep.Upload
	}
	for _, name := range overwriteCases {
		target := dir + name + ".bin"
		switch name {
		case "part-fault":
			// Every part after the first fails: the fault is armed
			// once the first part's request has been counted.
			stop := armAfter(cl, partEP, partsBefore, fakecloud.ServerError)
			status := put(t, p.URL(target), newContent)
			stop()
			if status < 500 {
				t.Errorf("%s: PUT answered %d while every part after the first failed; want a 5xx", name, status)
			}
			if cl.Counters().Get(partEP) < partsBefore+1 {
				t.Errorf("%s: only %d %s calls; the failure did not land after the first part", name, cl.Counters().Get(partEP), partEP)
			}
		case "complete-fault":
			cl.Faults().Inject(completeEP, fakecloud.ServerError, 1, -1)
			status := put(t, p.URL(target), newContent)
			cl.Faults().Clear()
			if status < 500 {
				t.Errorf("%s: PUT answered %d while %s failed; want a 5xx", name, status, completeEP)
			}
		case "client-gone":
			putHalfThenHangUp(t, p, target, newContent)
			waitLog(t, p, "upload abandoned", name+".bin")
		}
		t.Logf("%s: %s failed as asked; %d bytes had reached the object store so far", cl.Name(), name, cl.UploadedBytes())
	}

	// The cloud holds exactly the old files, byte for byte.
	diffHashes(t, "in the cloud after the failed overwrites", before, cloudHashes(t, cl.Tree(), "/Overwrite"))
	// So does pandav.
	checkOldFiles(t, p, dir, cl.Tree())
}

// checkOldFiles lists dir through pandav and reads each old file.
func checkOldFiles(t *testing.T, p *pandavProc, dir string, tr *fakecloud.Tree) {
	t.Helper()
	names := childNames(t, propfind(t, p.URL(dir), "1"), dir)
	if len(names) != len(overwriteCases) {
		t.Errorf("%s lists %v, want exactly the %d old files", dir, names, len(overwriteCases))
	}
	for _, name := range overwriteCases {
		n, err := tr.Lookup("/Overwrite/" + name + ".bin")
		if err != nil {
			t.Fatal(err)
		}
		resp, body := davDo(t, "GET", p.URL(dir+name+".bin"), nil, "")
		if resp.StatusCode != http.StatusOK || sha1Upper(body) != strings.ToUpper(n.Blob.SHA1()) {
			t.Errorf("GET %s%s.bin: %s, %d bytes, SHA1 %s; want the old content", dir, name, resp.Status, len(body), sha1Upper(body))
		}
	}
}

func sha1Upper(b []byte) string {
	s := sha1.Sum(b)
	return strings.ToUpper(hex.EncodeToString(s[:]))
}

// armAfter injects kind on endpoint once it has been called n times (so
// that call n itself passes) and returns a func that disarms it.
func armAfter(cl fakecloud.Cloud, endpoint string, n int64, kind fakecloud.FaultKind) (stop func()) {
	cl.Counters().Reset()
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		for cl.Counters().Get(endpoint) < n {
			select {
			case <-done:
				return
			case <-time.After(200 * time.Microsecond):
			}
		}
		cl.Faults().Inject(endpoint, kind, 1, -1)
	}()
	return func() {
		close(done)
		<-finished
		cl.Faults().Clear()
	}
}

// put sends body with a Content-Length and returns the status.
func put(t testing.TB, u string, body []byte) int {
	t.Helper()
	req, err := http.NewRequest("PUT", u, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatalf("PUT %s: %v", u, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// putHalfThenHangUp announces body's full length, sends half of it and
// closes the connection, as a client that crashes or loses its network.
func putHalfThenHangUp(t testing.TB, p *pandavProc, path string, body []byte) {
	t.Helper()
	conn, err := net.Dial("tcp", p.Addr)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "PUT %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n\r\n", escapePath(path), p.Addr, len(body))
	if _, err := conn.Write(body[:len(body)/2]); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // let part of it reach the cloud
	conn.Close()
}

// waitLog waits up to 30 s for a log line holding all of parts.
func waitLog(t testing.TB, p *pandavProc, parts ...string) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		for _, line := range strings.Split(p.Stderr(), "\n") {
			ok := true
			for _, s := range parts {
				if !strings.Contains(line, s) {
					ok = false
					break
				}
			}
			if ok {
				return line
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no log line with %q within 30s", parts)
	return ""
}
