package drivers

import (
	"context"
	"fmt"
	"strings"
)

// Walk finds the entry at rel, a slash-separated path inside the drive,
// by listing each folder from the root, as the WebDAV layer resolves a
// path (without its cache): for callers that hold a path, not an ID.
func Walk(ctx context.Context, d Drive, rel string) (Entry, error) {
	cur, err := d.Root(ctx)
	if err != nil {
		return Entry{}, err
	}
	for _, name := range strings.Split(strings.Trim(rel, "/"), "/") {
		if name == "" {
			continue
		}
		if !cur.IsDir {
			return Entry{}, fmt.Errorf("%s: %w: %s is a file", rel, ErrNotFound, cur.Name)
		}
		kids, err := d.List(ctx, cur)
		if err != nil {
			return Entry{}, err
		}
		found := false
		for _, k := range kids {
			if k.Name == name {
				cur, found = k, true
				break
			}
		}
		if !found {
			return Entry{}, fmt.Errorf("%s: %w", rel, ErrNotFound)
		}
	}
	return cur, nil
}
