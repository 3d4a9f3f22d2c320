package demo

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"pandav/drivers"
	"pandav/internal/fakecloud"
	"pandav/internal/sample"
)

// TestClouds: each entry of the list starts a Cloud of its Name, and the
// driver its MountOptions name opens in process and lists the account.
func TestClouds(t *testing.T) {
	for _, e := range Clouds {
		t.Run(e.Name, func(t *testing.T) {
			t.Parallel()
			c := e.Start(fakecloud.Options{RetryAfter: 20 * time.Millisecond})
			defer c.Close()
			if c.Name() != e.Name {
				t.Fatalf("Start gives a Cloud named %q, the list says %q", c.Name(), e.Name)
			}
			if err := sample.Fill(c.Tree()); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			d, err := OpenDrive(ctx, CloudMount(c, c.Login().Issue().Refresh), drivers.Env{StateDir: t.TempDir(), Log: zerolog.Nop()})
			if err != nil {
				t.Fatal(err)
			}
			root, err := d.Root(ctx)
			if err != nil {
				t.Fatal(err)
			}
			kids, err := d.List(ctx, root)
			if err != nil {
				t.Fatal(err)
			}
			want, _ := c.Tree().Children(c.Tree().RootID())
			if len(kids) != len(want) {
				t.Errorf("the driver lists %d entries at the root, the emulator holds %d", len(kids), len(want))
			}
			if c.Login().Rotations() != 1 {
				t.Errorf("%d refreshes, want the one a fresh login makes", c.Login().Rotations())
			}
		})
	}
}

// TestStart: the demo mounts every cloud at its path, in the list's
// order, and the share beside the first cloud that has share links.
func TestStart(t *testing.T) {
	d, err := Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var got, want []string
	for _, m := range d.Config.Mounts {
		got = append(got, m.Path)
	}
	shared := false
	for _, c := range d.Clouds {
		want = append(want, MountPath(c))
		if _, ok := c.(ShareHost); ok && !shared {
			shared = true
			want = append(want, SharePath)
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("mounts %v, want %v", got, want)
	}
}

func TestDrivesText(t *testing.T) {
	for _, tc := range []struct {
		paths []string
		want  string
	}{
		{[]string{"/a"}, "one emulated drive, /a"},
		{[]string{"/a", "/b"}, "two emulated drives, /a and /b"},
		{[]string{"/a", "/b", "/c"}, "three emulated drives, /a, /b and /c"},
	} {
		if got := drivesText(tc.paths); got != tc.want {
			t.Errorf("%v: %q, want %q", tc.paths, got, tc.want)
		}
	}
}
