package integration

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"pandav/internal/demo"
	"pandav/internal/fakecloud"
)

// killsPerDrive is how many times TestKillDuringRefresh kills pandav
// mid-refresh on each drive.
const killsPerDrive = 10

// refreshRound starts pandav on cfg, makes the cloud refuse its access
// token, and lists the mount so that pandav refreshes; it returns once the
// cloud has counted the refresh call, with the list calls counted so far.
func refreshRound(t *testing.T, c *clouds, cl fakecloud.Cloud, cfg string) (p *pandavProc, list0 int64) {
	t.Helper()
	p = startServe(t, cfg)
	cl.Login().ExpireAccess()
	n0 := cl.Counters().Get(cl.Endpoints().Refresh)
	go listQuietly(p, demo.MountPath(cl)+"/")
	deadline := time.Now().Add(10 * time.Second)
	for cl.Counters().Get(cl.Endpoints().Refresh) == n0 {
		if time.Now().After(deadline) {
			t.Fatalf("pandav made no refresh")
		}
		time.Sleep(200 * time.Microsecond)
	}
	return p, cl.Counters().Get(cl.Endpoints().List)
}

// listQuietly sends a Depth 1 PROPFIND of dir and ignores the outcome, for
// tests that only need pandav to call the cloud.
func listQuietly(p *pandavProc, dir string) {
	req, _ := http.NewRequest("PROPFIND", p.URL(dir), nil)
	req.Header.Set("Depth", "1")
	if resp, err := http.DefaultClient.Do(req); err == nil {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}

// newLogin authorizes the drive again, as the user would after a lost
// token, and writes it into cfg, so that the next round starts clean.
func newLogin(t *testing.T, c *clouds, cl fakecloud.Cloud, cfg, stateDir string) {
	t.Helper()
	c.rt[cl.Name()] = cl.Login().Issue().Refresh
	if err := os.WriteFile(cfg, []byte(c.ConfigWith(stateDir, serveOptions{})), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestKillDuringRefresh SIGKILLs pandav at a random point of a token
// refresh, killsPerDrive times per drive (20 in all). The emulator makes
// the refresh request take 150 ms to arrive; a client that dies on the way
// is never heard, as on a real network. Kill points fall while the request
// travels or after the cloud's answer came back (the 35 ms around the
// answer are TestKillWhileRefreshAnswered's). After each kill the test
// waits for the cloud, then asks: did the cloud rotate, and did pandav
// make a call with the new access token before it died? If it did, the
// new refresh token must be on disk (it is saved before use); if the cloud
// did not rotate, the old one must still be there. A kill that finds the
// cloud rotated and the new access token unused landed while the answer
// was on its way or being saved; it is counted apart, and cannot fail the
// test. No spent token may ever reach the cloud.
func TestKillDuringRefresh(t *testing.T) {
	t.Parallel()
	const transit = 150 * time.Millisecond
	var kills, lost, unavoidable atomic.Int32
	t.Run("drives", func(t *testing.T) {
		for i := range demo.Clouds {
			// Emulators of its own: pandav must refresh only this drive.
			c := startClouds(t, cloudOptions{})
			cl := c.Each()[i]
			t.Run(cl.Name(), func(t *testing.T) {
				t.Parallel()
				cfg, stateDir := c.WriteConfigWith(t, serveOptions{})
				rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
				var beforeArrival, afterSave, inAnswer int
				for i := range killsPerDrive {
					cl.Faults().SetRequestTransit(transit)
					prevLatest := cl.Login().Latest()
					p, list0 := refreshRound(t, c, cl, cfg)
					// 0–140 ms: the request is on its way; 175–250 ms:
					// the answer has come back.
					delay := time.Duration(rng.Int64N(int64(140 * time.Millisecond)))
					if rng.IntN(2) == 1 {
						delay = 175*time.Millisecond + time.Duration(rng.Int64N(int64(75*time.Millisecond)))
					}
					time.Sleep(delay)
					used := cl.Counters().Get(cl.Endpoints().List) > list0
					p.Kill()
					kills.Add(1)
					time.Sleep(transit + 100*time.Millisecond) // the cloud finishes
					cl.Faults().SetRequestTransit(0)

					latest := cl.Login().Latest()
					rotated := latest != prevLatest
					onDisk := anyContains(tokenFiles(stateDir, cl.TokenFilePrefix()), latest)
					switch {
					case !rotated && onDisk:
						beforeArrival++
					case rotated && onDisk:
						afterSave++
					case rotated && !used:
						unavoidable.Add(1)
						inAnswer++
						t.Logf("round %d: killed %s after the refresh was sent, while the answer was on its way or being saved: the cloud spent the token",
							i, delay.Round(time.Millisecond))
					default:
						lost.Add(1)
						t.Errorf("round %d: killed %s after the refresh was sent (rotated %v, new access token used %v): the newest refresh token is not on disk",
							i, delay.Round(time.Millisecond), rotated, used)
					}
					if onDisk {
						continue
					}
					newLogin(t, c, cl, cfg, stateDir)
				}
				// A last start must work on what is on disk, and no spent
				// token may ever have reached the cloud.
				cl.Login().ExpireAccess()
				p := startServe(t, cfg)
				ms := propfind(t, p.URL(demo.MountPath(cl)+"/Documents/"), "1")
				if len(ms.Responses) < 2 {
					t.Errorf("after the last restart, Documents/ lists %d responses", len(ms.Responses))
				}
				if n := cl.Login().Reuses(); n != 0 {
					t.Errorf("the cloud saw %d refreshes with a spent refresh token", n)
				}
				t.Logf("%s: %d kills: %d before the request arrived (old token kept), %d after the answer (new token on disk), %d while the answer was on its way",
					cl.Name(), killsPerDrive, beforeArrival, afterSave, inAnswer)
			})
		}
	})
	t.Logf("%d kills, %d tokens lost (and %d lost on the way back from the cloud, see TestKillWhileRefreshAnswered)",
		kills.Load(), lost.Load(), unavoidable.Load())
}

// TestKillWhileRefreshAnswered kills pandav in the one window where a
// token can be lost: the cloud has spent the old refresh token and its
// answer, which holds the only copy of the new one, is still on its way
// (docs/protocols/pan115.md: p115client warns of exactly this). The emulator holds the
// answer 1 s, and pandav dies in its first half. The next start must say what happened, with the time of
// the interrupted refresh and how to log in again, send the spent token at
// most once (it cannot know the request had arrived), keep the other
// mount serving, and work again once a new login is configured.
func TestKillWhileRefreshAnswered(t *testing.T) {
	t.Parallel()
	// A second, so that a loaded machine cannot make the kill miss it.
	const answerDelay = time.Second
	c := startClouds(t, cloudOptions{})
	cfg, stateDir := c.WriteConfigWith(t, serveOptions{})
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 2))
	for _, cl := range c.Each() {
		other := c.other(cl)
		cl.Faults().SetLatency(answerDelay)
		p, list0 := refreshRound(t, c, cl, cfg)
		time.Sleep(10*time.Millisecond + time.Duration(rng.Int64N(int64(490*time.Millisecond))))
		p.Kill()
		time.Sleep(answerDelay + 100*time.Millisecond)
		cl.Faults().SetLatency(0)
		if cl.Counters().Get(cl.Endpoints().List) != list0 {
			t.Fatalf("%s: pandav used a new access token before its answer was due", cl.Name())
		}
		if anyContains(tokenFiles(stateDir, cl.TokenFilePrefix()), cl.Login().Latest()) {
			t.Fatalf("%s: the new token is on disk, so the kill missed the answer's way", cl.Name())
		}

		reuses0 := cl.Login().Reuses()
		p = startServe(t, cfg)
		for range 3 {
			resp, _ := davDo(t, "PROPFIND", p.URL(demo.MountPath(cl)+"/Documents/"), map[string]string{"Depth": "1"}, "")
			if resp.StatusCode < 500 {
				t.Errorf("%s after a lost token: PROPFIND %s, want a server error", cl.Name(), resp.Status)
			}
		}
		if n := cl.Login().Reuses() - reuses0; n != 1 {
			t.Errorf("%s: the spent token reached the cloud %d times, want once", cl.Name(), n)
		}
		said := ""
		for _, line := range strings.Split(p.Stderr(), "\n") {
			if strings.Contains(line, "never completed") && strings.Contains(line, "log in") {
				said = line
				break
			}
		}
		if said == "" {
			t.Errorf("%s: no log line names the interrupted refresh and says how to log in again", cl.Name())
		} else {
			t.Logf("%s: %s", cl.Name(), tail(said, 400))
		}
		if ms := propfind(t, p.URL(demo.MountPath(other)+"/Documents/"), "1"); len(ms.Responses) < 2 {
			t.Errorf("%s: the other mount stopped serving", demo.MountPath(other))
		}
		p.Stop()
		newLogin(t, c, cl, cfg, stateDir)
		p = startServe(t, cfg)
		if ms := propfind(t, p.URL(demo.MountPath(cl)+"/Documents/"), "1"); len(ms.Responses) < 2 {
			t.Errorf("%s: after a new login, Documents/ lists %d responses", cl.Name(), len(ms.Responses))
		}
		p.Stop()
	}
}

// TestSIGTERMDuringRefresh stops pandav while every drive waits for the
// cloud's answer to a refresh, with a 1 s shutdown_grace and answers that
// take 3 s. pandav must wait for the answers and save the new tokens
// before it exits, because leaving first would cost the login.
func TestSIGTERMDuringRefresh(t *testing.T) {
	t.Parallel()
	const answerDelay = 3 * time.Second
	c := startClouds(t, cloudOptions{})
	cfg, stateDir := c.WriteConfigWith(t, serveOptions{TopExtra: "shutdown_grace: 1s"})
	p := startServe(t, cfg)
	refreshes := map[string]int64{}
	for _, cl := range c.Each() {
		refreshes[cl.Name()] = cl.Counters().Get(cl.Endpoints().Refresh)
		cl.Login().ExpireAccess()
		cl.Faults().SetLatency(answerDelay)
		go listQuietly(p, demo.MountPath(cl)+"/")
	}
	deadline := time.Now().Add(3 * answerDelay)
	for _, cl := range c.Each() {
		for cl.Counters().Get(cl.Endpoints().Refresh) == refreshes[cl.Name()] {
			if time.Now().After(deadline) {
				t.Fatalf("%s: pandav made no refresh", cl.Name())
			}
			time.Sleep(time.Millisecond)
		}
	}
	time.Sleep(200 * time.Millisecond)
	p.Terminate(t)
	for _, cl := range c.Each() {
		cl.Faults().SetLatency(0)
		if !anyContains(tokenFiles(stateDir, cl.TokenFilePrefix()), cl.Login().Latest()) {
			t.Errorf("%s: pandav exited before the refresh answered; the newest token is not on disk", cl.Name())
		}
	}
	p = startServe(t, cfg)
	for _, cl := range c.Each() {
		if ms := propfind(t, p.URL(demo.MountPath(cl)+"/Documents/"), "1"); len(ms.Responses) < 2 {
			t.Errorf("%s: after the restart, Documents/ lists %d responses", cl.Name(), len(ms.Responses))
		}
		if n := cl.Login().Reuses(); n != 0 {
			t.Errorf("%s: %d spent tokens reached the cloud", cl.Name(), n)
		}
	}
}

// TestKillMidOverwrite SIGKILLs pandav while it receives the new content
// of an existing file, streamed (Content-Length) and spooled (chunked,
// and everything on 115). The old file must stay intact in the cloud with
// no partial file listed, and the next start must remove the spool files
// the dead process left in state_dir/spool.
func TestKillMidOverwrite(t *testing.T) {
	t.Parallel()
	const size = 24 << 20
	variants := []string{"length", "chunked"}
	extra := map[string]fakecloud.Blob{}
	for i, v := range variants {
		extra["/KillOverwrite/"+v+".bin"] = fakecloud.NewSeededBlob(uint64(700+i), size, "")
	}
	c := fastClouds(t, extra)
	cfg, stateDir := c.WriteConfigWith(t, serveOptions{Fast: true})
	newContent := make([]byte, size)
	fakecloud.NewSeededBlob(777, size, "").ReadAt(newContent, 0)
	spoolDir := filepath.Join(stateDir, "spool")
	for _, v := range variants {
		p := startServe(t, cfg)
		for _, cl := range c.Each() {
			propfind(t, p.URL(demo.MountPath(cl)+"/KillOverwrite/"), "1")
		}
		// Both mounts at once: each client sends half, then pandav dies.
		conns := map[string]net.Conn{}
		for _, cl := range c.Each() {
			conns[cl.Name()] = startPut(t, p, demo.MountPath(cl)+"/KillOverwrite/"+v+".bin", newContent[:size/2], size, v == "chunked")
		}
		time.Sleep(500 * time.Millisecond)
		left, _ := filepath.Glob(filepath.Join(spoolDir, "put-*"))
		p.Kill()
		for _, conn := range conns {
			conn.Close()
		}
		t.Logf("%s: killed mid-body; %d spool files left behind", v, len(left))
		if len(left) == 0 {
			t.Errorf("%s: no spool file existed at the kill; the sweep on start is not exercised", v)
		}
		for _, cl := range c.Each() {
			n, err := cl.Tree().Lookup("/KillOverwrite/" + v + ".bin")
			if err != nil || n.Blob.SHA1() != extra["/KillOverwrite/"+v+".bin"].SHA1() {
				t.Errorf("%s %s: the old file is not intact in the cloud (%v)", cl.Name(), v, err)
			}
		}
		p2 := startServe(t, cfg)
		if rest, _ := filepath.Glob(filepath.Join(spoolDir, "put-*")); len(rest) > 0 {
			t.Errorf("%s: after a restart, spool files remain: %v", v, rest)
		}
		for _, cl := range c.Each() {
			dir := demo.MountPath(cl) + "/KillOverwrite/"
			names := childNames(t, propfind(t, p2.URL(dir), "1"), dir)
			if len(names) != len(variants) {
				t.Errorf("%s lists %v after the kill, want the %d old files only", dir, names, len(variants))
			}
			resp, body := davDo(t, "GET", p2.URL(dir+v+".bin"), nil, "")
			if resp.StatusCode != http.StatusOK || sha1Upper(body) != extra["/KillOverwrite/"+v+".bin"].SHA1() {
				t.Errorf("%s%s.bin after the restart: %s, SHA1 %s; want the old content", dir, v, resp.Status, sha1Upper(body))
			}
		}
		for _, cl := range c.Each() {
			diffHashes(t, cl.Name()+" in the cloud", map[string]string{
				"length.bin": extra["/KillOverwrite/length.bin"].SHA1(), "chunked.bin": extra["/KillOverwrite/chunked.bin"].SHA1(),
			}, cloudHashes(t, cl.Tree(), "/KillOverwrite"))
		}
		p2.Stop()
	}
}

// startPut opens a PUT of a file of total bytes, sends first, and returns
// the open connection. chunked leaves the length out, as Finder does.
func startPut(t testing.TB, p *pandavProc, path string, first []byte, total int, chunked bool) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", p.Addr)
	if err != nil {
		t.Fatal(err)
	}
	if chunked {
		fmt.Fprintf(conn, "PUT %s HTTP/1.1\r\nHost: %s\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n", escapePath(path), p.Addr, len(first))
	} else {
		fmt.Fprintf(conn, "PUT %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n\r\n", escapePath(path), p.Addr, total)
	}
	if _, err := conn.Write(first); err != nil {
		t.Fatal(err)
	}
	if chunked {
		io.WriteString(conn, "\r\n")
	}
	return conn
}

// TestSIGTERMDrain sends SIGTERM while uploads are in flight. An upload
// whose client keeps sending finishes: the client gets 201 and the cloud
// the exact bytes. An upload whose client stalls is abandoned within the
// 10 s grace, with a log line, and nothing partial reaches the listing.
// pandav exits with status 0 either way.
func TestSIGTERMDrain(t *testing.T) {
	t.Parallel()
	const size = 16 << 20
	c := fastClouds(t, nil)
	cfg, _ := c.WriteConfigWith(t, serveOptions{Fast: true})
	content := make([]byte, size)
	fakecloud.NewSeededBlob(888, size, "").ReadAt(content, 0)
	p := startServe(t, cfg)
	for _, cl := range c.Each() {
		propfind(t, p.URL(demo.MountPath(cl)+"/"), "1")
	}
	type outcome struct {
		name   string
		status int
		err    error
	}
	results := make(chan outcome, 4)
	var stalled []net.Conn
	for _, cl := range c.Each() {
		// A client that sends the whole body over about 3 s.
		go func(cl fakecloud.Cloud) {
			pr, pw := io.Pipe()
			go func() {
				for off := 0; off < size; off += 1 << 20 {
					pw.Write(content[off : off+1<<20])
					time.Sleep(180 * time.Millisecond)
				}
				pw.Close()
			}()
			req, _ := http.NewRequest("PUT", p.URL(demo.MountPath(cl)+"/drain-finished.bin"), pr)
			req.ContentLength = size
			resp, err := httpClient.Do(req)
			o := outcome{name: cl.Name(), err: err}
			if err == nil {
				o.status = resp.StatusCode
				resp.Body.Close()
			}
			results <- o
		}(cl)
		// A client that sends half and then stalls.
		stalled = append(stalled, startPut(t, p, demo.MountPath(cl)+"/drain-stalled.bin", content[:size/2], size, false))
	}
	time.Sleep(time.Second)
	took := p.Terminate(t)
	for _, conn := range stalled {
		conn.Close()
	}
	if p.waitErr != nil {
		t.Errorf("pandav exited with %v, want status 0", p.waitErr)
	}
	// The 10 s grace, then up to 3 s for the cut-off uploads to clean up.
	if took > 14*time.Second {
		t.Errorf("pandav took %s to exit, beyond its 10 s grace and the 3 s cleanup", took)
	}
	for range c.Each() {
		o := <-results
		if o.err != nil || o.status != http.StatusCreated {
			t.Errorf("%s: the upload in flight at SIGTERM got %d %v, want 201", o.name, o.status, o.err)
		}
	}
	logs := p.Stderr()
	for _, cl := range c.Each() {
		n, err := cl.Tree().Lookup("/drain-finished.bin")
		if err != nil || n.Blob.SHA1() != sha1Upper(content) {
			t.Errorf("%s: the finished upload is not in the cloud byte-exact (%v)", cl.Name(), err)
		}
		if _, listed := cloudHashes(t, cl.Tree(), "/")["drain-stalled.bin"]; listed {
			t.Errorf("%s: the stalled upload is listed in the cloud", cl.Name())
		}
		abandoned := false
		for _, line := range strings.Split(logs, "\n") {
			if strings.Contains(line, demo.MountPath(cl)+"/drain-stalled.bin") && strings.Contains(line, "abandoned") {
				abandoned = true
				t.Logf("%s: %s", cl.Name(), tail(line, 300))
			}
		}
		if !abandoned {
			t.Errorf("%s: no log line says the stalled upload was abandoned", cl.Name())
		}
	}
}
