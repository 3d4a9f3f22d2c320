// Package demo runs pandav's built-in default: both cloud emulators in
// this process, filled with the sample tree, and a configuration that
// mounts them at /aliyun and /115, and a share of the sample Movies
// folder, from another Aliyundrive user and with a code, at /share/demo.
package demo

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"pandav/config"
	"pandav/drivers/aliyun/aliyuntest"
	"pandav/drivers/pan115/pan115test"
	"pandav/internal/sample"
)

// The demo share: its id and code (提取码).
const (
	ShareID  = "pandavDemo42"
	SharePwd = "pd42"
)

// Demo is the running emulators and the configuration that points at
// them.
type Demo struct {
	Config *config.Config
	Aliyun *aliyuntest.Server
	Pan115 *pan115test.Server
	state  string
}

// Start starts the emulators and writes a throwaway state folder.
func Start(listen string) (*Demo, error) {
	ali := aliyuntest.NewServer(aliyuntest.Options{})
	p115 := pan115test.NewServer(pan115test.Options{})
	d := &Demo{Aliyun: ali, Pan115: p115}
	for _, tree := range []func() error{
		func() error { return sample.Fill(ali.Tree) },
		func() error { return sample.Fill(p115.Tree) },
		func() error { return shareMovies(ali) },
	} {
		if err := tree(); err != nil {
			d.Close()
			return nil, err
		}
	}
	ali.SetSpace(2 << 40)
	p115.SetSpace(4 << 40)
	state, err := os.MkdirTemp("", "pandav-demo-")
	if err != nil {
		d.Close()
		return nil, err
	}
	d.state = state
	yaml := fmt.Sprintf("listen: %q\nstate_dir: %q\nmounts:\n", listen, filepath.Join(state, "state")) +
		AliyunMount("/aliyun", ali, ali.NewRefreshToken(),
			// Playing a share saves its files for a while through the web API.
			"web_refresh_token: "+strconv.Quote(ali.NewWebRefreshToken()),
			"web_api_url: "+strconv.Quote(ali.URL()),
			"auth_url: "+strconv.Quote(ali.AuthURL())) +
		fmt.Sprintf(`  - path: /share/demo
    driver: aliyun-share
    options:
      share_id: %q
      share_pwd: %q
      account: /aliyun
      web_api_url: %q
`, ShareID, SharePwd, ali.URL()) +
		Pan115Mount("/115", p115, p115.NewRefreshToken())
	cfg, err := config.Parse([]byte(yaml))
	if err != nil {
		d.Close()
		return nil, err
	}
	d.Config = cfg
	return d, nil
}

// AliyunMount is a mounts: entry pointing pandav at an Aliyun emulator
// with the given login; extra lines ("key: value") join its options. The
// integration tests and the bench build their configs from it too.
func AliyunMount(path string, ali *aliyuntest.Server, refreshToken string, extra ...string) string {
	return mountYAML(path, "aliyun", append([]string{
		"refresh_token: " + strconv.Quote(refreshToken),
		"client_id: " + strconv.Quote(ali.ClientID()),
		"client_secret: " + strconv.Quote(ali.ClientSecret()),
		"open_api_url: " + strconv.Quote(ali.URL()),
	}, extra...))
}

// Pan115Mount is AliyunMount for a 115 emulator.
func Pan115Mount(path string, p *pan115test.Server, refreshToken string, extra ...string) string {
	return mountYAML(path, "pan115", append([]string{
		"refresh_token: " + strconv.Quote(refreshToken),
		"api_url: " + strconv.Quote(p.APIURL()),
		"passport_url: " + strconv.Quote(p.PassportURL()),
	}, extra...))
}

func mountYAML(path, driver string, options []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "  - path: %s\n    driver: %s\n    options:\n", path, driver)
	for _, o := range options {
		fmt.Fprintf(&b, "      %s\n", o)
	}
	return b.String()
}

// shareMovies fills the sharer's drive with the sample tree and shares
// its Movies folder.
func shareMovies(ali *aliyuntest.Server) error {
	if err := sample.Fill(ali.Sharer); err != nil {
		return err
	}
	movies, err := ali.Sharer.Lookup(path.Dir(sample.VideoPath))
	if err != nil {
		return err
	}
	return ali.AddShare(ShareID, SharePwd, movies.ID)
}

// Close stops the emulators and removes the state folder.
func (d *Demo) Close() {
	if d.Aliyun != nil {
		d.Aliyun.Close()
	}
	if d.Pan115 != nil {
		d.Pan115.Close()
	}
	if d.state != "" {
		os.RemoveAll(d.state)
	}
}
