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
	yaml := fmt.Sprintf(`
listen: %q
state_dir: %q
mounts:
  - path: /aliyun
    driver: aliyun
    options:
      refresh_token: %q
      client_id: %q
      client_secret: %q
      open_api_url: %q
      # Playing a share saves its files for a while through the web API.
      web_refresh_token: %q
      web_api_url: %q
      auth_url: %q
  - path: /share/demo
    driver: aliyun-share
    options:
      share_id: %q
      share_pwd: %q
      account: /aliyun
      web_api_url: %q
  - path: /115
    driver: pan115
    options:
      refresh_token: %q
      api_url: %q
      passport_url: %q
`, listen, filepath.Join(state, "state"),
		ali.NewRefreshToken(), ali.ClientID(), ali.ClientSecret(), ali.URL(),
		ali.NewWebRefreshToken(), ali.URL(), ali.AuthURL(),
		ShareID, SharePwd, ali.URL(),
		p115.NewRefreshToken(), p115.APIURL(), p115.PassportURL())
	cfg, err := config.Parse([]byte(yaml))
	if err != nil {
		d.Close()
		return nil, err
	}
	d.Config = cfg
	return d, nil
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
