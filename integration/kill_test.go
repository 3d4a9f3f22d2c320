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
	"syscall"
	"testing"
	"time"

	"pandav/internal/fakecloud"
)

// killsPerDrive is how many times TestKillDuringRefresh kills pandav
// mid-refresh on each drive.
const killsPerDrive = 10

// TestKillDuringRefresh SIGKILLs pandav at a random point of a token
// refresh, killsPerDrive times per drive (20 in all). The emulator holds
// every answer back for 150 ms before it rotates the token, and goes on
// (rotates) even when pandav has died meanwhile, as a real server does.
// So a kill lands either while the answer is on its way (the cloud
// rotated, pandav never saw the new token: lost, and no client can avoid
// that) or after pandav got the answer (the new token must be on disk).
// After each kill the test waits for the cloud to finish, then checks the
// newest token against the disk; a lost one is counted and reported, and
// a new login is seeded so that the next round starts clean. At the end no
// spent token may ever have been presented to the cloud.
func TestKillDuringRefresh(t *testing.T) {
	t.Parallel()
	const latency = 150 * time.Millisecond
	kills, lost := 0, 0
	t.Run("drives", func(t *testing.T) {
		for _, name := range []string{"aliyun", "115"} {
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				// Emulators of its own: pandav must refresh only this drive.
				c := startClouds(t, cloudOptions{})
				cl := c.aliyun()
				if name == "115" {
					cl = c.pan115()
				}
				cfg, stateDir := c.WriteConfigWith(t, serveOptions{})
				rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
				var inFlight, inFlightLost, answered, answeredLost int
				for i := range killsPerDrive {
					p := startServe(t, cfg)
					cl.Faults.SetLatency(latency)
					c.expireAccessTokens(cl)
					prevLatest := cl.LatestRefreshToken()
					n0 := cl.Counters.Get(cl.RefreshEP)
					go func() {
						req, _ := http.NewRequest("PROPFIND", p.URL(cl.Mount+"/"), nil)
						req.Header.Set("Depth", "1")
						if resp, err := http.DefaultClient.Do(req); err == nil {
							io.Copy(io.Discard, resp.Body)
							resp.Body.Close()
						}
					}()
					deadline := time.Now().Add(10 * time.Second)
					for cl.Counters.Get(cl.RefreshEP) == n0 {
						if time.Now().After(deadline) {
							t.Fatalf("round %d: pandav made no refresh", i)
						}
						time.Sleep(200 * time.Microsecond)
					}
					delay := time.Duration(rng.Int64N(int64(latency + 80*time.Millisecond)))
					time.Sleep(delay)
					p.Kill()
					kills++
					time.Sleep(latency + 100*time.Millisecond) // the cloud finishes the refresh
					cl.Faults.SetLatency(0)

					latest := cl.LatestRefreshToken()
					if latest == prevLatest {
						t.Errorf("round %d: the cloud did not rotate the token", i)
					}
					onDisk := anyContains(tokenFiles(stateDir, cl.TokenFilePrefix), latest)
					// A kill more than 20 ms past the answer's delay found
					// pandav holding the answer (timing is only used to
					// classify, not to pass or fail).
					if delay < latency {
						inFlight++
					} else {
						answered++
					}
					if !onDisk {
						if delay < latency {
							inFlightLost++
						} else {
							answeredLost++
							t.Logf("round %d: killed %s after the refresh was sent (answer due at %s); the rotated token was not on disk",
								i, delay.Round(time.Millisecond), latency)
						}
						// A new login, as the user would paste, so that the
						// next round does not present the spent token.
						if name == "aliyun" {
							c.AliRT = c.Ali.NewRefreshToken()
						} else {
							c.P115RT = c.P115.NewRefreshToken()
						}
						if err := os.WriteFile(cfg, []byte(c.ConfigWith(stateDir, serveOptions{})), 0o600); err != nil {
							t.Fatal(err)
						}
					}
				}
				// A last start must work on what is on disk, and no spent
				// token may ever have reached the cloud.
				c.expireAccessTokens(cl)
				p := startServe(t, cfg)
				ms := propfind(t, p.URL(cl.Mount+"/Documents/"), "1")
				if len(ms.Responses) < 2 {
					t.Errorf("after the last restart, Documents/ lists %d responses", len(ms.Responses))
				}
				if n := cl.RefreshTokenReuses(); n != 0 {
					t.Errorf("the cloud saw %d refreshes with a spent refresh token", n)
				}
				t.Logf("%s: %d kills: %d while the answer was on its way (%d tokens lost), %d after it was due (%d tokens lost)",
					name, killsPerDrive, inFlight, inFlightLost, answered, answeredLost)
				lost += inFlightLost + answeredLost
			})
		}
	})
	t.Logf("%d kills, %d tokens lost", kills, lost)
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
			propfind(t, p.URL(cl.Mount+"/KillOverwrite/"), "1")
		}
		// Both mounts at once: each client sends half, then pandav dies.
		conns := map[string]net.Conn{}
		for _, cl := range c.Each() {
			conns[cl.Name] = startPut(t, p, cl.Mount+"/KillOverwrite/"+v+".bin", newContent[:size/2], size, v == "chunked")
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
			n, err := cl.Tree.Lookup("/KillOverwrite/" + v + ".bin")
			if err != nil || n.Blob.SHA1() != extra["/KillOverwrite/"+v+".bin"].SHA1() {
				t.Errorf("%s %s: the old file is not intact in the cloud (%v)", cl.Name, v, err)
			}
		}
		p2 := startServe(t, cfg)
		if rest, _ := filepath.Glob(filepath.Join(spoolDir, "put-*")); len(rest) > 0 {
			t.Errorf("%s: after a restart, spool files remain: %v", v, rest)
		}
		for _, cl := range c.Each() {
			dir := cl.Mount + "/KillOverwrite/"
			names := childNames(t, propfind(t, p2.URL(dir), "1"), dir)
			if len(names) != len(variants) {
				t.Errorf("%s lists %v after the kill, want the %d old files only", dir, names, len(variants))
			}
			resp, body := davDo(t, "GET", p2.URL(dir+v+".bin"), nil, "")
			if resp.StatusCode != http.StatusOK || sha1Upper(body) != extra["/KillOverwrite/"+v+".bin"].SHA1() {
				t.Errorf("%s%s.bin after the restart: %s, SHA1 %s; want the old content", dir, v, resp.Status, sha1Upper(body))
			}
		}
		diffHashes(t, "in the cloud", map[string]string{
			"length.bin": extra["/KillOverwrite/length.bin"].SHA1(), "chunked.bin": extra["/KillOverwrite/chunked.bin"].SHA1(),
		}, cloudHashes(t, c.Ali.Tree, "/KillOverwrite"))
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
		propfind(t, p.URL(cl.Mount+"/"), "1")
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
		go func(cl cloud) {
			pr, pw := io.Pipe()
			go func() {
				for off := 0; off < size; off += 1 << 20 {
					pw.Write(content[off : off+1<<20])
					time.Sleep(180 * time.Millisecond)
				}
				pw.Close()
			}()
			req, _ := http.NewRequest("PUT", p.URL(cl.Mount+"/drain-finished.bin"), pr)
			req.ContentLength = size
			resp, err := httpClient.Do(req)
			o := outcome{name: cl.Name, err: err}
			if err == nil {
				o.status = resp.StatusCode
				resp.Body.Close()
			}
			results <- o
		}(cl)
		// A client that sends half and then stalls.
		stalled = append(stalled, startPut(t, p, cl.Mount+"/drain-stalled.bin", content[:size/2], size, false))
	}
	time.Sleep(time.Second)
	start := time.Now()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		t.Fatalf("pandav did not exit within 20 s of SIGTERM")
	}
	took := time.Since(start)
	for _, conn := range stalled {
		conn.Close()
	}
	t.Logf("pandav exited %s after SIGTERM (%v)", took.Round(100*time.Millisecond), p.waitErr)
	if p.waitErr != nil {
		t.Errorf("pandav exited with %v, want status 0", p.waitErr)
	}
	if took > 12*time.Second {
		t.Errorf("pandav took %s to exit, beyond its 10 s grace", took)
	}
	for range c.Each() {
		o := <-results
		if o.err != nil || o.status != http.StatusCreated {
			t.Errorf("%s: the upload in flight at SIGTERM got %d %v, want 201", o.name, o.status, o.err)
		}
	}
	logs := p.Stderr()
	for _, cl := range c.Each() {
		n, err := cl.Tree.Lookup("/drain-finished.bin")
		if err != nil || n.Blob.SHA1() != sha1Upper(content) {
			t.Errorf("%s: the finished upload is not in the cloud byte-exact (%v)", cl.Name, err)
		}
		if _, listed := cloudHashes(t, cl.Tree, "/")["drain-stalled.bin"]; listed {
			t.Errorf("%s: the stalled upload is listed in the cloud", cl.Name)
		}
		abandoned := false
		for _, line := range strings.Split(logs, "\n") {
			if strings.Contains(line, cl.Mount+"/drain-stalled.bin") && strings.Contains(line, "abandoned") {
				abandoned = true
				t.Logf("%s: %s", cl.Name, tail(line, 300))
			}
		}
		if !abandoned {
			t.Errorf("%s: no log line says the stalled upload was abandoned", cl.Name)
		}
	}
}
