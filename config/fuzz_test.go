package config

import (
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// FuzzParse: the loader never panics, and its errors never echo a value
// (key names may appear; values are passwords and tokens).
func FuzzParse(f *testing.F) {
	f.Add([]byte(good))
	f.Add([]byte("mounts: [{path: /a, driver: x, options: {refresh_token: SECRETVALUE}}]\ncache: {entries: SECRETVALUE}\n"))
	f.Add([]byte("listen: [1, 2]\n"))
	f.Add([]byte("stream: {chunk_size: 4MiB, memory_budget: 1GiB}\nmounts: [{path: /a, driver: x}]\n"))
	f.Add([]byte("&a [*a]"))
	f.Add([]byte("mounts:\n  - path: /a\n    driver: x\n    options: &o {k: *o}\n"))
	f.Add([]byte("{SECRETVALUE}\n"))
	f.Add([]byte("cache: {SECRET0: SECRET}\nmounts: [{path: /a, driver: x}]\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, err := Parse(b)
		if err == nil {
			return
		}
		var doc yaml.Node
		if yaml.Unmarshal(b, &doc) != nil {
			return
		}
		keys, values := map[string]bool{}, map[string]bool{}
		collectScalars(&doc, keys, values)
		for v := range values {
			if strings.Contains(v, "SECRET") && !withinAny(v, keys) && strings.Contains(err.Error(), v) {
				t.Fatalf("error echoes the value %q: %v", v, err)
			}
		}
	})
}

// collectScalars sorts a document's scalars into mapping keys and values.
func collectScalars(n *yaml.Node, keys, values map[string]bool) {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			keys[n.Content[i].Value] = true
			collectScalars(n.Content[i+1], keys, values)
		}
	case yaml.ScalarNode:
		values[n.Value] = true
	default:
		for _, c := range n.Content {
			collectScalars(c, keys, values)
		}
	}
}

// withinAny says whether v is part of some key name, which a message may
// rightly show.
func withinAny(v string, keys map[string]bool) bool {
	for k := range keys {
		if strings.Contains(k, v) {
			return true
		}
	}
	return false
}
