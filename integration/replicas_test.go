package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"pandav/internal/demo"
	"pandav/internal/state"
	"pandav/internal/state/redistest"
)

// replicaSet is n pandav processes on one Redis, each with a state_dir
// of its own, and a load balancer that sends each request to the next
// live replica in turn.
type replicaSet struct {
	t      *testing.T
	cfgs   []string
	mu     sync.Mutex
	procs  []*pandavProc
	served []atomic.Int64
	next   atomic.Uint64
	lb     *httptest.Server
}

func startReplicas(t *testing.T, c *clouds, n int, redisURL string) *replicaSet {
	rs := &replicaSet{t: t, served: make([]atomic.Int64, n)}
	for range n {
		cfg, _ := c.WriteConfigWith(t, serveOptions{Fast: true, TopExtra: "state: {redis: " + yamlQuote(redisURL) + "}"})
		rs.cfgs = append(rs.cfgs, cfg)
		rs.procs = append(rs.procs, startServe(t, cfg))
	}
	rs.lb = httptest.NewServer(http.HandlerFunc(rs.balance))
	t.Cleanup(rs.lb.Close)
	// DEBUG_REPLICA_LOGS names a folder to keep every replica's whole log
	// in, for a failure the tail does not explain.
	t.Cleanup(func() {
		if d := os.Getenv("DEBUG_REPLICA_LOGS"); d != "" {
			for i := range n {
				os.WriteFile(filepath.Join(d, fmt.Sprint("replica", i, ".log")), []byte(rs.proc(i).Stderr()), 0o644)
			}
		}
	})
	return rs
}

// proc is replica i as it runs now.
func (rs *replicaSet) proc(i int) *pandavProc {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return rs.procs[i]
}

// restart starts replica i again after it died.
func (rs *replicaSet) restart(i int) {
	p := startServe(rs.t, rs.cfgs[i])
	rs.mu.Lock()
	rs.procs[i] = p
	rs.mu.Unlock()
}

// lbProc is the load balancer as a pandavProc, for the helpers that take
// one (URL, rcloneRemote).
func (rs *replicaSet) lbProc() *pandavProc {
	return &pandavProc{Addr: strings.TrimPrefix(rs.lb.URL, "http://")}
}

var lbTransport = &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 64}

// balance forwards r to the next replica, or to the one after it when a
// replica does not take the connection (killed, restarting), as a load
// balancer with health checks would. The Host header is kept, so that a
// Destination names the balancer's host as the request does.
func (rs *replicaSet) balance(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	n := len(rs.served)
	start := int(rs.next.Add(1))
	for k := range 3 * n {
		i := (start + k) % n
		p := rs.proc(i)
		out, _ := http.NewRequestWithContext(r.Context(), r.Method, "http://"+p.Addr+r.URL.RequestURI(), bytes.NewReader(body))
		out.Header = r.Header.Clone()
		out.Host = r.Host
		out.ContentLength = int64(len(body))
		resp, err := lbTransport.RoundTrip(out)
		if err != nil {
			var op *net.OpError
			if errors.As(err, &op) && op.Op == "dial" {
				time.Sleep(20 * time.Millisecond)
				continue
			}
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		rs.served[i].Add(1)
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
		resp.Body.Close()
		return
	}
	http.Error(w, "no replica answers", http.StatusBadGateway)
}

func (rs *replicaSet) servedTotal() (total int64, each []int64) {
	for i := range rs.served {
		each = append(each, rs.served[i].Load())
		total += each[i]
	}
	return total, each
}

// TestReplicas runs three replicas of the real binary on one real Redis
// against the emulators: what one replica writes the others see, locks
// hold across them, litmus and an rclone round trip pass through a
// round-robin balancer, the replica that holds the refresh lease is killed
// mid-refresh 20 times with no refresh token reused, and a Redis outage
// costs 503s only while it lasts.
func TestReplicas(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	c := fastClouds(t, nil)
	rs := startReplicas(t, c, 3, srv.URL())
	lb := rs.lbProc()
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer rdb.Close()
	defer func() {
		total, each := rs.servedTotal()
		t.Logf("requests served across the replicas through the balancer: %d (%v)", total, each)
		for _, cl := range c.Each() {
			t.Logf("%s: %d refresh tokens reused, %d rotations", cl.Name(), cl.Login().Reuses(), cl.Login().Rotations())
			if n := cl.Login().Reuses(); n != 0 {
				t.Errorf("%s saw %d trades of a spent refresh token", cl.Name(), n)
			}
		}
	}()

	t.Run("a write through one is in the next listing through another", func(t *testing.T) {
		for _, cl := range c.Each() {
			dir := demo.MountPath(cl) + "/"
			for i := range 3 {
				propfind(t, rs.proc(i).URL(dir), "1") // every replica has the folder cached
			}
			name := "from-a-" + cl.Name() + ".txt"
			if resp, _ := davDo(t, "PUT", rs.proc(0).URL(dir+name), nil, "written through A"); resp.StatusCode >= 300 {
				t.Fatalf("PUT through A: %s", resp.Status)
			}
			for i := 1; i < 3; i++ {
				if _, ok := childNames(t, propfind(t, rs.proc(i).URL(dir), "1"), dir)[name]; !ok {
					// Publishing is not synchronous with the answer: allow
					// it the time a client takes to send its next request.
					time.Sleep(50 * time.Millisecond)
					if names := childNames(t, propfind(t, rs.proc(i).URL(dir), "1"), dir); !hasKey(names, name) {
						t.Errorf("%s: replica %d's listing lacks %s, PUT through replica 0: %v", cl.Name(), i, name, names)
					}
				}
			}
			if resp, _ := davDo(t, "DELETE", rs.proc(1).URL(dir+name), nil, ""); resp.StatusCode >= 300 {
				t.Fatalf("DELETE through B: %s", resp.Status)
			}
			time.Sleep(50 * time.Millisecond)
			if hasKey(childNames(t, propfind(t, rs.proc(2).URL(dir), "1"), dir), name) {
				t.Errorf("%s: replica 2 still lists %s, deleted through replica 1", cl.Name(), name)
			}
		}
	})

	t.Run("locks and properties are shared", func(t *testing.T) {
		for _, cl := range c.Each() {
			p := demo.MountPath(cl) + "/locked-" + cl.Name() + ".txt"
			lock, _ := davDo(t, "LOCK", rs.proc(0).URL(p), map[string]string{"Timeout": "Second-600"}, lockInfoBody)
			token := lock.Header.Get("Lock-Token")
			if lock.StatusCode >= 300 || token == "" {
				t.Fatalf("LOCK through A: %s", lock.Status)
			}
			if resp, _ := davDo(t, "PUT", rs.proc(1).URL(p), nil, "no token"); resp.StatusCode != 423 {
				t.Errorf("%s: PUT without the token through B: %s, want 423", cl.Name(), resp.Status)
			}
			if resp, _ := davDo(t, "PUT", rs.proc(2).URL(p), map[string]string{"If": "(" + token + ")"}, "with the token"); resp.StatusCode >= 300 {
				t.Errorf("%s: PUT with the token through C: %s", cl.Name(), resp.Status)
			}
			if resp, _ := davDo(t, "PROPPATCH", rs.proc(2).URL(p), map[string]string{"If": "(" + token + ")"}, colourPatch); resp.StatusCode != 207 {
				t.Errorf("%s: PROPPATCH through C: %s", cl.Name(), resp.Status)
			}
			if _, body := davDo(t, "PROPFIND", rs.proc(1).URL(p), map[string]string{"Depth": "0"}, colourFind); !bytes.Contains(body, []byte("indigo")) {
				t.Errorf("%s: PROPFIND through B lacks the property set through C:\n%s", cl.Name(), body)
			}
			if resp, _ := davDo(t, "UNLOCK", rs.proc(0).URL(p), map[string]string{"Lock-Token": token}, ""); resp.StatusCode != 204 {
				t.Errorf("%s: UNLOCK through A: %s", cl.Name(), resp.Status)
			}
			if resp, _ := davDo(t, "PUT", rs.proc(1).URL(p), nil, "after the unlock"); resp.StatusCode >= 300 {
				t.Errorf("%s: PUT through B after UNLOCK through A: %s", cl.Name(), resp.Status)
			}
		}
	})

	t.Run("uploads of one path through two replicas take turns", func(t *testing.T) {
		for _, cl := range c.Each() {
			dir := demo.MountPath(cl) + "/Turns/"
			if resp, _ := davDo(t, "MKCOL", rs.proc(0).URL(dir), nil, ""); resp.StatusCode >= 300 {
				t.Fatalf("MKCOL: %s", resp.Status)
			}
			for round := range 3 {
				name := fmt.Sprintf("same-%d.bin", round)
				var wg sync.WaitGroup
				for i := range 2 {
					wg.Add(1)
					go func() {
						defer wg.Done()
						body := strings.Repeat(fmt.Sprint(i), 512<<10)
						if resp, _ := davDo(t, "PUT", rs.proc(i).URL(dir+name), nil, body); resp.StatusCode >= 300 {
							t.Errorf("%s: PUT through replica %d: %s", cl.Name(), i, resp.Status)
						}
					}()
				}
				wg.Wait()
			}
			n, err := cl.Tree().Lookup("/Turns")
			if err != nil {
				t.Fatal(err)
			}
			kids, _ := cl.Tree().Children(n.ID)
			var names []string
			for _, k := range kids {
				names = append(names, k.Name)
			}
			if len(kids) != 3 {
				t.Errorf("%s: after 3 rounds of two PUTs of one path through two replicas, the folder holds %v, want one file per round", cl.Name(), names)
			}
		}
	})

	t.Run("litmus through the balancer", func(t *testing.T) {
		litmus := needTool(t, "litmus")
		for _, cl := range c.Each() {
			ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
			cmd := exec.CommandContext(ctx, litmus, "-k", lb.URL(demo.MountPath(cl)+"/"))
			cmd.Dir = t.TempDir()
			cmd.WaitDelay = 5 * time.Second
			out, _ := cmd.CombinedOutput()
			cancel()
			var failures []string
			for _, m := range litmusFail.FindAllStringSubmatch(string(out), -1) {
				failures = append(failures, strings.TrimRight(m[1], "."))
			}
			runs := litmusSummary.FindAllStringSubmatch(string(out), -1)
			t.Logf("%s: litmus groups %d, failures %v", cl.Name(), len(runs), failures)
			if len(runs) != 5 || len(failures) > 0 {
				t.Errorf("%s: litmus through three replicas: %d groups, failures %v\n%s", cl.Name(), len(runs), failures, out)
			}
		}
	})

	t.Run("rclone round trip through the balancer", func(t *testing.T) {
		rclone := needTool(t, "rclone")
		rng := rand.New(rand.NewPCG(17, 1))
		for _, cl := range c.Each() {
			local := t.TempDir()
			for i := range replicaFiles {
				writeRandom(t, replicaFile(local, i), 1+rng.IntN(16<<10), rng)
			}
			remote := rcloneRemote(lb, demo.MountPath(cl)) + "Replicas"
			env := rcloneEnv(t)
			rcl := func(what string, args ...string) {
				t.Helper()
				r := runTool(t, 4*time.Minute, env, rclone, append(args, "--retries", "1", "--transfers", "6", "--checkers", "6")...)
				if r.Err != nil {
					t.Fatalf("%s: rclone %s: %v\n%s", cl.Name(), what, r.Err, tail(string(r.Stderr), 3000))
				}
			}
			rcl("copy", "copy", local, remote)
			checkCloudTree(t, cl.Tree(), "/Replicas", local)
			rcl("check --download", "check", "--download", local, remote)
			back := t.TempDir()
			rcl("copy back", "copy", remote, back)
			compareTrees(t, local, back)
			// Modify, delete and add 10 files each; a modified file
			// changes size, as a plain WebDAV remote compares sizes only.
			for i := range 10 {
				writeRandom(t, replicaFile(local, 3*i), 20<<10+rng.IntN(4096), rng)
				if err := os.Remove(replicaFile(local, 3*i+1)); err != nil {
					t.Fatal(err)
				}
				writeRandom(t, replicaFile(local, replicaFiles+i), 1+rng.IntN(4096), rng)
			}
			rcl("sync", "sync", local, remote)
			checkCloudTree(t, cl.Tree(), "/Replicas", local)
			rcl("check --download after sync", "check", "--download", local, remote)
		}
	})

	t.Run("the refresh lease holder killed mid-refresh", func(t *testing.T) {
		testLeaseHolderKills(t, c, rs, rdb)
	})

	t.Run("Redis stopped for 10 s", func(t *testing.T) {
		testRedisOutage(t, c, rs, srv)
	})
}

// replicaFiles is how many files the rclone round trip through the
// replicas copies: enough for rclone's parallel transfers to spread over
// all three, and cheap (roundtrip_test.go does the bulk through one).
const replicaFiles = 150

func replicaFile(root string, i int) string {
	return filepath.Join(root, fmt.Sprintf("d%d", i%5), fmt.Sprintf("f%03d.bin", i))
}

func hasKey[V any](m map[string]V, k string) bool {
	_, ok := m[k]
	return ok
}

const lockInfoBody = `<?xml version="1.0" encoding="utf-8"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype><D:owner>replicas</D:owner></D:lockinfo>`

const colourPatch = `<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="http://example.com/ns"><D:set><D:prop><Z:colour>indigo</Z:colour></D:prop></D:set></D:propertyupdate>`

const colourFind = `<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><Z:colour xmlns:Z="http://example.com/ns"/></D:prop></D:propfind>`

// leaseKills is how many times the refresh lease holder is killed.
const leaseKills = 20

// testLeaseHolderKills makes every replica need a refresh at once (the
// cloud expires every access token), finds the replica holding the
// account's refresh lease in Redis, and SIGKILLs it at a random moment
// while its refresh request travels (the emulator holds it 150 ms on the
// way; a client that dies meanwhile is never heard). The other replicas
// must then take the lease and serve; the killed one is started again.
// Rounds alternate between the clouds.
func testLeaseHolderKills(t *testing.T, c *clouds, rs *replicaSet, rdb *redis.Client) {
	const transit = 150 * time.Millisecond
	for _, cl := range c.Each() {
		cl.Faults().SetRequestTransit(transit)
		defer cl.Faults().SetRequestTransit(0)
	}
	rng := rand.New(rand.NewPCG(20, 26))
	kills, late := 0, 0
	for round := 0; kills < leaseKills && round < 3*leaseKills; round++ {
		cl := c.Each()[round%len(c.Each())]
		dir := demo.MountPath(cl) + "/"
		cl.Login().ExpireAccess()
		n0 := cl.Counters().Get(cl.Endpoints().Refresh)
		var wg sync.WaitGroup
		for i := range 3 {
			// SIGHUP empties the replica's caches, so that it asks the
			// cloud, with the access token the cloud now refuses.
			rs.proc(i).cmd.Process.Signal(syscall.SIGHUP)
		}
		time.Sleep(50 * time.Millisecond)
		for i := range 3 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				listQuietly(rs.proc(i), dir)
			}()
		}
		holder, key := leaseHolder(t, rdb, 5*time.Second)
		if holder == 0 {
			t.Fatalf("round %d: no replica took the refresh lease", round)
		}
		// The refresh request leaves right after its journal is stored;
		// the kill falls while it travels.
		if !journalStored(rdb, key, 5*time.Second) {
			t.Fatalf("round %d: no journal of the refresh", round)
		}
		rotations := cl.Login().Rotations()
		time.Sleep(time.Duration(rng.Int64N(int64(transit / 2))))
		victim := -1
		for i := range 3 {
			if p := rs.proc(i); p.cmd.Process.Pid == holder {
				victim = i
				p.cmd.Process.Signal(syscall.SIGKILL)
				<-p.done
			}
		}
		// A machine this busy may delay the kill past the cloud's
		// answer: then the new token died with its holder, as it would
		// in a single process (kill_test.go counts these apart), and the
		// user logs in again before anyone sends the spent one.
		time.Sleep(transit)
		if victim >= 0 && cl.Login().Rotations() > rotations && !storedIs(rdb, key, cl.Login().Latest()) {
			late++
			g := cl.Login().Issue()
			putLogin(t, rdb, key, g.Refresh)
		}
		wg.Wait()
		if victim < 0 {
			continue // the lease was another process's (a refresh just ended)
		}
		kills++
		rs.restart(victim)
		// Every replica keeps working: each lists the mount, the lease
		// of the dead holder running out meanwhile.
		for i := range 3 {
			resp, body := davDo(t, "PROPFIND", rs.proc(i).URL(dir), map[string]string{"Depth": "1"}, "")
			if resp.StatusCode != http.StatusMultiStatus {
				t.Errorf("round %d: replica %d after the kill of replica %d: %s %s", round, i, victim, resp.Status, tail(string(body), 300))
			}
		}
		if cl.Counters().Get(cl.Endpoints().Refresh) == n0 {
			t.Errorf("round %d: no refresh reached the cloud", round)
		}
	}
	t.Logf("%d SIGKILLs of the refresh lease holder; %d landed after the cloud's answer (the machine was slow), and were logged in again", kills, late)
	if kills < leaseKills {
		t.Errorf("only %d kills landed", kills)
	}
	for _, cl := range c.Each() {
		if n := cl.Login().Reuses(); n != 0 {
			t.Errorf("%s: %d reused refresh tokens", cl.Name(), n)
		}
	}
}

// leaseHolder waits for a refresh lease in Redis and returns its
// holder's PID and the key of the login it refreshes.
func leaseHolder(t *testing.T, rdb *redis.Client, wait time.Duration) (pid int, key string) {
	ctx := context.Background()
	deadline := time.Now().Add(wait)
	for time.Now().Before(deadline) {
		keys, _ := rdb.Keys(ctx, "pandav:lease:refresh:*").Result()
		for _, k := range keys {
			owner, err := rdb.Get(ctx, k).Result()
			if err != nil {
				continue
			}
			parts := strings.Split(owner, "/")
			if len(parts) == 3 {
				if pid, err := strconv.Atoi(parts[1]); err == nil {
					return pid, strings.TrimPrefix(k, "pandav:lease:refresh:")
				}
			}
		}
		time.Sleep(time.Millisecond)
	}
	return 0, ""
}

// storedToken is the login key's token in Redis.
func storedToken(rdb *redis.Client, key string) state.Token {
	var tok state.Token
	if b, err := rdb.HGet(context.Background(), "pandav:tokens", key).Bytes(); err == nil {
		json.Unmarshal(b, &tok)
	}
	return tok
}

// journalStored waits until the login's token in Redis has its refresh
// journal set.
func journalStored(rdb *redis.Client, key string, wait time.Duration) bool {
	for deadline := time.Now().Add(wait); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if !storedToken(rdb, key).RefreshSentAt.IsZero() {
			return true
		}
	}
	return false
}

func storedIs(rdb *redis.Client, key, refresh string) bool {
	return storedToken(rdb, key).Refresh == refresh
}

// putLogin stores a new login as `pandav login` does.
func putLogin(t *testing.T, rdb *redis.Client, key, refresh string) {
	b, _ := json.Marshal(state.Token{Refresh: refresh, Since: time.Now()})
	if err := rdb.HSet(context.Background(), "pandav:tokens", key, b).Err(); err != nil {
		t.Fatal(err)
	}
}

// testRedisOutage runs a client through the balancer that writes and
// reads (PUT, PROPPATCH, PROPFIND, GET, LOCK and UNLOCK), stops Redis
// for 10 s in the middle, and starts it again on its data. While it is
// down, every failure is a 503 with Retry-After; before and after, there
// is none; and the lock, property and logins made before it are there
// after it.
func testRedisOutage(t *testing.T, c *clouds, rs *replicaSet, srv *redistest.Server) {
	lb := rs.lbProc()
	cl := c.Each()[0]
	dir := demo.MountPath(cl) + "/Outage/"
	if resp, _ := davDo(t, "MKCOL", lb.URL(dir), nil, ""); resp.StatusCode >= 300 {
		t.Fatalf("MKCOL: %s", resp.Status)
	}
	kept := dir + "kept.txt"
	davDo(t, "PUT", lb.URL(kept), nil, "kept")
	lock, _ := davDo(t, "LOCK", lb.URL(kept), map[string]string{"Timeout": "Second-3600"}, lockInfoBody)
	token := lock.Header.Get("Lock-Token")
	if resp, _ := davDo(t, "PROPPATCH", lb.URL(kept), map[string]string{"If": "(" + token + ")"}, colourPatch); token == "" || resp.StatusCode != 207 {
		t.Fatalf("LOCK and PROPPATCH before the outage: %s %s", lock.Status, resp.Status)
	}

	var mu sync.Mutex
	var down, upAgain time.Time
	var outside, during, ok503 int
	var served int
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		client := &http.Client{Timeout: 20 * time.Second}
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			name := fmt.Sprintf("%sf%03d.txt", dir, i/5%40) // each cycle of five on one file
			var req *http.Request
			switch i % 5 {
			case 0:
				req, _ = http.NewRequest("PUT", lb.URL(name), strings.NewReader(fmt.Sprint("content ", i)))
			case 1:
				req, _ = http.NewRequest("PROPPATCH", lb.URL(name), strings.NewReader(colourPatch))
			case 2:
				req, _ = http.NewRequest("PROPFIND", lb.URL(dir), nil)
				req.Header.Set("Depth", "1")
			case 3:
				req, _ = http.NewRequest("GET", lb.URL(kept), nil)
			case 4:
				req, _ = http.NewRequest("LOCK", lb.URL(name), strings.NewReader(lockInfoBody))
				req.Header.Set("Timeout", "Second-60")
			}
			sent := time.Now()
			resp, err := client.Do(req)
			status := 0
			if err == nil {
				status = resp.StatusCode
				if lt := resp.Header.Get("Lock-Token"); lt != "" {
					r, _ := http.NewRequest("UNLOCK", lb.URL(name), nil)
					r.Header.Set("Lock-Token", lt)
					if resp, err := client.Do(r); err == nil {
						resp.Body.Close()
					}
				}
				if status == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") != "" {
					status = -503 // a proper 503
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			mu.Lock()
			served++
			// A request sent just before the stop may be served after it.
			inOutage := !down.IsZero() && sent.After(down.Add(-time.Second)) && (upAgain.IsZero() || sent.Before(upAgain.Add(time.Second)))
			failed := err != nil || status >= 400 || status == -503
			switch {
			case !failed:
			case inOutage && status == -503:
				ok503++
			case inOutage:
				during++
				t.Errorf("during the outage: %s %s: %d %v, want 503 with Retry-After", req.Method, req.URL.Path, status, err)
			default:
				outside++
				t.Errorf("outside the outage: %s %s: %d %v", req.Method, req.URL.Path, status, err)
			}
			mu.Unlock()
			time.Sleep(20 * time.Millisecond)
		}
	}()
	time.Sleep(3 * time.Second)
	mu.Lock()
	down = time.Now()
	mu.Unlock()
	srv.Stop()
	time.Sleep(10 * time.Second)
	srv.Restart()
	mu.Lock()
	upAgain = time.Now()
	mu.Unlock()
	time.Sleep(5 * time.Second)
	close(stop)
	<-done
	t.Logf("Redis outage: %d requests, %d answered 503 with Retry-After while Redis was down, %d other errors during it, %d errors outside it", served, ok503, during, outside)
	if ok503 == 0 {
		t.Errorf("no request was refused while Redis was down")
	}
	// Nothing was lost: the lock still holds, the property is there.
	if resp, _ := davDo(t, "PUT", lb.URL(kept), nil, "no token"); resp.StatusCode != 423 {
		t.Errorf("PUT without the token after the outage: %s, want 423 (the lock was lost)", resp.Status)
	}
	if _, body := davDo(t, "PROPFIND", lb.URL(kept), map[string]string{"Depth": "0"}, colourFind); !bytes.Contains(body, []byte("indigo")) {
		t.Errorf("the property set before the outage is gone:\n%s", body)
	}
	if resp, _ := davDo(t, "UNLOCK", lb.URL(kept), map[string]string{"Lock-Token": token}, ""); resp.StatusCode != 204 {
		t.Errorf("UNLOCK after the outage: %s", resp.Status)
	}
	for _, cl := range c.Each() {
		resp, _ := davDo(t, "PROPFIND", lb.URL(demo.MountPath(cl)+"/"), map[string]string{"Depth": "1"}, "")
		if resp.StatusCode != http.StatusMultiStatus {
			t.Errorf("%s after the outage: %s (the login was lost?)", cl.Name(), resp.Status)
		}
	}
}
