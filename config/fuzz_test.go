package config

import (
	"strings"
	"testing"
)

// FuzzParse: the loader never panics, and its errors never echo a value
// that looks like a secret.
func FuzzParse(f *testing.F) {
	f.Add([]byte(good))
	f.Add([]byte("mounts: [{path: /a, driver: x, options: {refresh_token: SECRETVALUE}}]\ncache: {entries: SECRETVALUE}\n"))
	f.Add([]byte("listen: [1, 2]\n"))
	f.Add([]byte("stream: {chunk_size: 4MiB, memory_budget: 1GiB}\nmounts: [{path: /a, driver: x}]\n"))
	f.Add([]byte("&a [*a]"))
	f.Add([]byte("mounts:\n  - path: /a\n    driver: x\n    options: &o {k: *o}\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, err := Parse(b)
		if err != nil && strings.Contains(err.Error(), "SECRETVALUE") && strings.Count(string(b), "SECRETVALUE") > 0 {
			// key names may legitimately appear; values may not
			if !strings.Contains(string(b), "SECRETVALUE:") {
				t.Fatalf("error echoes a value: %v", err)
			}
		}
	})
}
