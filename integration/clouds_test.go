package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"pandav/internal/demo"
	"pandav/internal/fakecloud"
	"pandav/internal/sample"
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

// tokenFiles returns the contents of the token files under stateDir whose
// names start with prefix.
func tokenFiles(stateDir, prefix string) []string {
	matches, _ := filepath.Glob(filepath.Join(stateDir, "tokens", prefix+"*"))
	var out []string
	for _, m := range matches {
		if strings.HasPrefix(filepath.Base(m), ".") {
			continue
		}
		if b, err := os.ReadFile(m); err == nil {
			out = append(out, string(b))
		}
	}
	return out
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
