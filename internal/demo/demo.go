// Package demo runs pandav's built-in default: an emulator of every cloud
// in this process, each filled with the sample tree, and a configuration
// that mounts each at "/" + its name, and a share of the sample Movies
// folder, from another user of a cloud that has share links and with a
// code, at /share/demo.
//
// It also holds Clouds, the one list of emulated clouds, which the
// integration tests, the bench and drivertest's conformance run loop
// over, and the helpers they share to mount and open them.
package demo

import (
	"fmt"
	"maps"
	"os"
	"path"
	"path/filepath"
	"strings"

	"pandav/config"
	"pandav/drivers/aliyun/aliyuntest"
	"pandav/drivers/pan115/pan115test"
	"pandav/internal/fakecloud"
	"pandav/internal/sample"
)

// Emulator is a cloud pandav has a driver for, as an emulator a harness
// can start.
type Emulator struct {
	// Name is the Name of the Clouds Start returns, known before any is
	// started.
	Name  string
	Start func(fakecloud.Options) fakecloud.Cloud
	// Space is the account's total space in the demo and the bench.
	Space int64
}

// Clouds is every cloud pandav has a driver for, in the order of the
// demo's mounts. A new cloud joins here and in drivers/all.
var Clouds = []Emulator{
	{Name: aliyuntest.Name, Start: aliyuntest.Start, Space: 2 << 40},
	{Name: pan115test.Name, Start: pan115test.Start, Space: 4 << 40},
}

// The demo share: its id and code (提取码).
const (
	ShareID  = "pandavDemo42"
	SharePwd = "pd42"
	// SharePath is where the demo mounts it.
	SharePath = "/share/demo"
)

// ShareHost is a cloud whose users share folders by link, and whose
// driver plays a share through an account mount.
type ShareHost interface {
	// Sharer is another user's drive, whose folders AddShare shares.
	Sharer() *fakecloud.Tree
	AddShare(shareID, code, folderID string) error
	// ShareAccountOptions are what an account mount made with
	// MountOptions adds to play shares.
	ShareAccountOptions() map[string]any
	// ShareMount is the driver and options of a mount of shareID, played
	// through the account mounted at account.
	ShareMount(shareID, code, account string) (driver string, options map[string]any)
}

// Demo is the running emulators and the configuration that points at
// them.
type Demo struct {
	Config *config.Config
	// ConfigPath is Config's text, in a file.
	ConfigPath string
	// Clouds are the emulators, in the order of Clouds.
	Clouds []fakecloud.Cloud
	state  string
}

// Start starts the emulators and writes a throwaway state folder.
func Start(listen string) (*Demo, error) {
	d := &Demo{}
	var mounts []Mount
	shared := false
	for _, e := range Clouds {
		c := e.Start(fakecloud.Options{})
		d.Clouds = append(d.Clouds, c)
		if err := sample.Fill(c.Tree()); err != nil {
			d.Close()
			return nil, err
		}
		c.SetSpace(e.Space)
		m := CloudMount(c, c.Login().Issue().Refresh)
		if err := watchFolder(c, m); err != nil {
			d.Close()
			return nil, err
		}
		mounts = append(mounts, m)
		// One share is enough for the demo: from the first cloud that has
		// share links.
		if sh, ok := c.(ShareHost); ok && !shared {
			shared = true
			share, err := shareMovies(sh, m)
			if err != nil {
				d.Close()
				return nil, err
			}
			mounts = append(mounts, share)
		}
	}
	state, err := os.MkdirTemp("", "pandav-demo-")
	if err != nil {
		d.Close()
		return nil, err
	}
	d.state = state
	yaml := fmt.Sprintf("listen: %q\nstate_dir: %q\nmounts:\n", listen, filepath.Join(state, "state"))
	for _, m := range mounts {
		yaml += m.YAML()
	}
	cfg, err := config.Parse([]byte(yaml))
	if err != nil {
		d.Close()
		return nil, err
	}
	d.Config = cfg
	// For `pandav check -c` and `pandav login -c`, which find the running
	// demo through the state folder this names.
	d.ConfigPath = filepath.Join(state, "config.yaml")
	if err := os.WriteFile(d.ConfigPath, []byte(yaml), 0o600); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

// WatchFolder is the cloud-download watch folder of the demo's mounts
// whose cloud has cloud download.
const WatchFolder = "/云下载"

// watchFolder makes WatchFolder in c's drive and a watch folder of m,
// when c has cloud download.
func watchFolder(c fakecloud.Cloud, m Mount) error {
	cd, ok := c.(fakecloud.CloudDownloads)
	if !ok {
		return nil
	}
	if _, err := c.Tree().MkdirAll(WatchFolder); err != nil {
		return err
	}
	maps.Copy(m.Options, cd.WatchMountOptions(WatchFolder))
	return nil
}

// shareMovies fills the sharer's drive with the sample tree, shares its
// Movies folder, lets the account play shares, and returns the share's
// mount.
func shareMovies(sh ShareHost, account Mount) (Mount, error) {
	if err := sample.Fill(sh.Sharer()); err != nil {
		return Mount{}, err
	}
	movies, err := sh.Sharer().Lookup(path.Dir(sample.VideoPath))
	if err != nil {
		return Mount{}, err
	}
	if err := sh.AddShare(ShareID, SharePwd, movies.ID); err != nil {
		return Mount{}, err
	}
	// Playing a share saves its files for a while through the account.
	for k, v := range sh.ShareAccountOptions() {
		account.Options[k] = v
	}
	driver, options := sh.ShareMount(ShareID, SharePwd, account.Path)
	return Mount{Path: SharePath, Driver: driver, Options: options}, nil
}

// Drives says which drives the demo serves, for its banner: "two
// emulated drives, /aliyun and /115".
func (d *Demo) Drives() string {
	paths := make([]string, len(d.Clouds))
	for i, c := range d.Clouds {
		paths[i] = MountPath(c)
	}
	return drivesText(paths)
}

func drivesText(paths []string) string {
	return fmt.Sprintf("%s emulated drive%s, %s", countWord(len(paths)), plural(len(paths)), andList(paths))
}

func countWord(n int) string {
	if words := []string{"no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"}; n < len(words) {
		return words[n]
	}
	return fmt.Sprint(n)
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// andList joins "a", "b" and "c" as "a, b and c".
func andList(items []string) string {
	if len(items) < 2 {
		return strings.Join(items, "")
	}
	return strings.Join(items[:len(items)-1], ", ") + " and " + items[len(items)-1]
}

// Close stops the emulators and removes the state folder.
func (d *Demo) Close() {
	for _, c := range d.Clouds {
		c.Close()
	}
	if d.state != "" {
		os.RemoveAll(d.state)
	}
}
