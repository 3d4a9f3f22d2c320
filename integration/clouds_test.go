package integration

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"pandav/internal/demo"
	"pandav/internal/fakecloud"
	"pandav/internal/sample"
	"pandav/internal/state"
)

// clouds are an emulator of every cloud of demo's list, in its order, so
// that most tests run the same steps on every mount. A test that needs
// what only some clouds have asks a Cloud for it with a type assertion.
type clouds struct {
	all []fakecloud.Cloud
	// rt is the refresh token each cloud's mount is configured with, by
	// cloud name.
	rt map[string]string
}

type cloudOptions struct {
	fakecloud.Options
	// Extra files to add to every tree, keyed by path.
	Extra map[string]fakecloud.Blob
}

// startClouds starts the emulators on loopback, each filled with the
// sample tree and o.Extra; they close with the test. Retry hints are kept
// short so that throttling tests stay quick.
func startClouds(t testing.TB, o cloudOptions) *clouds {
	t.Helper()
	if o.RetryAfter == 0 {
		o.RetryAfter = 20 * time.Millisecond
	}
	c := &clouds{rt: map[string]string{}}
	for _, e := range demo.Clouds {
		cl := e.Start(o.Options)
		t.Cleanup(cl.Close)
		c.all = append(c.all, cl)
		if err := sample.Fill(cl.Tree()); err != nil {
			t.Fatal(err)
		}
		for p, b := range o.Extra {
			if _, err := cl.Tree().PutPath(p, b); err != nil {
				t.Fatal(err)
			}
		}
		c.rt[cl.Name()] = cl.Login().Issue().Refresh
	}
	t.Cleanup(func() { recordSecrets(c) })
	return c
}

// Each returns the clouds in the list's order.
func (c *clouds) Each() []fakecloud.Cloud { return c.all }

// other is a cloud other than cl, for tests that need a second mount.
func (c *clouds) other(cl fakecloud.Cloud) fakecloud.Cloud {
	for i, x := range c.all {
		if x == cl {
			return c.all[(i+1)%len(c.all)]
		}
	}
	panic("integration: " + cl.Name() + " is not one of these clouds")
}

// WriteConfig writes a pandav config for every emulator, in the
// documented keys, into a fresh temp dir and returns its path and the
// state dir it names.
func (c *clouds) WriteConfig(t testing.TB) (configPath, stateDir string) {
	t.Helper()
	return c.WriteConfigWith(t, serveOptions{})
}

// yamlQuote quotes s as a YAML double-quoted scalar (JSON's escaping is a
// subset of YAML's).
func yamlQuote(s string) string {
	return fmt.Sprintf("%q", s)
}

// tokenFiles returns, as JSON, the tokens in stateDir's state store
// whose keys start with prefix.
func tokenFiles(stateDir, prefix string) []string {
	toks, _ := state.ReadTokens(stateDir)
	var out []string
	for k, tok := range toks {
		if strings.HasPrefix(k, prefix) {
			b, _ := json.Marshal(tok)
			out = append(out, string(b))
		}
	}
	return out
}

// storedLogins is every token in stateDir's state store, as JSON, by key.
func storedLogins(t testing.TB, stateDir string) map[string]string {
	t.Helper()
	toks, err := state.ReadTokens(stateDir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	out := map[string]string{}
	for k, tok := range toks {
		b, _ := json.Marshal(tok)
		out[k] = string(b)
	}
	return out
}

// storeHoldsProp says whether a dead property whose name holds name and
// whose stored form holds value is in stateDir's state store.
func storeHoldsProp(t testing.TB, stateDir, name, value string) bool {
	t.Helper()
	all, err := state.ReadProps(stateDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, props := range all {
		for n, v := range props {
			if strings.Contains(n, name) && strings.Contains(string(v), value) {
				return true
			}
		}
	}
	return false
}

// fileSizes walks tr and returns every live file's path (from the root,
// without a leading slash) and size.
func fileSizes(t testing.TB, tr *fakecloud.Tree) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	var walk func(id, prefix string)
	walk = func(id, prefix string) {
		kids, err := tr.Children(id)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range kids {
			p := prefix + k.Name
			if k.IsDir {
				walk(k.ID, p+"/")
			} else {
				out[p] = k.Size()
			}
		}
	}
	walk(tr.RootID(), "")
	return out
}
