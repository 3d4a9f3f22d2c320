package admin_test

import (
	"bytes"
	"context"
	"errors"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"pandav/drivers"
	"pandav/internal/admin"
	"pandav/internal/demo"
	"pandav/internal/fakecloud"
	"pandav/internal/torrent"
)

// downloadRig is the admin API, over HTTP, in front of every cloud of
// the demo's list; dl is the one with cloud download.
type downloadRig struct {
	api   admin.API
	dl    fakecloud.CloudDownloads
	mount string // dl's mount
	other string // a mount without cloud download, "" if none
}

func newDownloadRig(t *testing.T) *downloadRig {
	t.Helper()
	r := &downloadRig{}
	var ms []admin.Mount
	for _, e := range demo.Clouds {
		c := e.Start(fakecloud.Options{Unthrottled: true})
		t.Cleanup(c.Close)
		m := demo.CloudMount(c, c.Login().Issue().Refresh)
		if u, ok := c.(fakecloud.Unpaced); ok {
			maps.Copy(m.Options, u.UnpacedMountOptions())
		}
		d, err := demo.OpenDrive(context.Background(), m, drivers.Env{StateDir: t.TempDir(), Log: zerolog.Nop()})
		if err != nil {
			t.Fatal(err)
		}
		cd, ok := c.(fakecloud.CloudDownloads)
		if _, has := d.(drivers.CloudDownloader); ok && has && r.dl == nil {
			r.dl, r.mount = cd, m.Path
			cd.SetDownloadSpeed(0)
			c.Tree().MkdirAll("/films")
		} else if !has {
			r.other = m.Path
		}
		ms = append(ms, admin.Mount{Path: m.Path, Driver: m.Driver, Drive: d})
	}
	if r.dl == nil {
		t.Skip("no cloud of the list has cloud download")
	}
	svc := admin.NewService(ms, zerolog.Nop())
	srv := httptest.NewServer(admin.NewHandler(svc, nil, zerolog.Nop()))
	t.Cleanup(srv.Close)
	t.Cleanup(svc.Close)
	r.api = &admin.Client{BaseURL: srv.URL}
	return r
}

func TestDownloadsThroughTheAPI(t *testing.T) {
	r := newDownloadRig(t)
	ctx := context.Background()
	ms, err := r.api.Mounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if m.CloudDownload != (m.Path == r.mount) {
			t.Fatalf("%s: cloud_download %v", m.Path, m.CloudDownload)
		}
	}
	used0, _ := r.dl.DownloadQuota()
	links := []string{"https://example.com/a/report.pdf", "magnet:?xt=urn:btih:" + strings.Repeat("ab", 20) + "&dn=show&tr=udp://t.example:80", "not a link"}
	res, err := r.api.AddDownloads(ctx, admin.AddDownloads{To: r.mount + "/films", Links: links})
	if err != nil {
		t.Fatal(err)
	}
	if res.OK || len(res.Results) != 3 || res.Results[0].Task == "" || res.Results[1].Task == "" || res.Results[2].Error == "" || res.Folder != r.mount+"/films" {
		t.Fatalf("added %+v", res)
	}
	files := []torrent.File{{Path: "a.mkv", Size: 1000}, {Path: "b.mkv", Size: 2000}}
	data := torrent.Make("Pack", files, func(i int) []byte { return bytes.Repeat([]byte{1}, int(files[i].Size)) })
	tr, err := r.api.AddDownloads(ctx, admin.AddDownloads{To: r.mount + "/films", Torrent: data, TorrentName: "pack.torrent"})
	if err != nil || !tr.OK || tr.Results[0].Task == "" {
		t.Fatalf("torrent: %+v, %v", tr, err)
	}
	bad, err := r.api.AddDownloads(ctx, admin.AddDownloads{To: r.mount, Torrent: []byte("<html>"), TorrentName: "fake.torrent"})
	if err != nil || bad.OK || !strings.Contains(bad.Results[0].Error, "not a torrent") {
		t.Fatalf("not a torrent: %+v, %v", bad, err)
	}
	if used, _ := r.dl.DownloadQuota(); used != used0+3 {
		t.Fatalf("quota used %d, want %d", used, used0+3)
	}
	q, err := r.api.DownloadQuota(ctx, "")
	if used, left := r.dl.DownloadQuota(); err != nil || q.Used != used || q.Left != left || q.Mount != r.mount {
		t.Fatalf("quota %+v, %v", q, err)
	}

	r.dl.AdvanceDownloads(r.dl.DownloadTime())
	l, err := r.api.Downloads(ctx, r.mount)
	if err != nil || len(l.Tasks) != 3 {
		t.Fatalf("list: %+v, %v", l, err)
	}
	for _, task := range l.Tasks {
		if task.Status != "done" || task.Folder != r.mount+"/films" || task.Percent != 100 {
			t.Fatalf("task %+v", task)
		}
	}
	rm, err := r.api.RemoveDownloads(ctx, admin.RemoveDownloads{Tasks: []string{res.Results[0].Task[:8]}, WithFiles: true})
	if err != nil || len(rm.Tasks) != 1 || rm.Tasks[0] != res.Results[0].Task {
		t.Fatalf("remove by a start of the ID: %+v, %v", rm, err)
	}
	if err := r.api.ClearDownloads(ctx, admin.ClearDownloads{Which: "all"}); err != nil {
		t.Fatal(err)
	}
	if l, err := r.api.Downloads(ctx, ""); err != nil || len(l.Tasks) != 0 {
		t.Fatalf("after clearing: %+v, %v", l, err)
	}

	for name, call := range map[string]func() error{
		"unknown task": func() error {
			_, err := r.api.RemoveDownloads(ctx, admin.RemoveDownloads{Tasks: []string{"ffffffff"}})
			return err
		},
		"clear what":        func() error { return r.api.ClearDownloads(ctx, admin.ClearDownloads{Which: "some"}) },
		"failed with files": func() error { return r.api.ClearDownloads(ctx, admin.ClearDownloads{Which: "failed", WithFiles: true}) },
		"no folder": func() error {
			_, err := r.api.AddDownloads(ctx, admin.AddDownloads{To: r.mount + "/nope", Links: links[:1]})
			return err
		},
		"nothing to add": func() error { _, err := r.api.AddDownloads(ctx, admin.AddDownloads{To: r.mount}); return err },
	} {
		var e *admin.Error
		if err := call(); !errors.As(err, &e) || e.Status/100 != 4 || strings.Contains(e.Msg, "\n") {
			t.Errorf("%s: %v, want a 4xx with one sentence", name, err)
		}
	}
	if r.other != "" {
		_, err := r.api.Downloads(ctx, r.other)
		var e *admin.Error
		if !errors.As(err, &e) || e.Status != http.StatusBadRequest || !strings.Contains(e.Msg, "no cloud download") {
			t.Fatalf("a mount without cloud download: %v", err)
		}
	}
}

// A change needs the CSRF header and a JSON body, as every change does.
func TestDownloadsCSRF(t *testing.T) {
	r := newDownloadRig(t)
	base := r.api.(*admin.Client).BaseURL + admin.Prefix + "downloads"
	resp, err := http.Post(base, "application/json", strings.NewReader(`{"links":["https://example.com/x"]}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("POST without %s: %s", admin.CSRFHeader, resp.Status)
	}
	req, _ := http.NewRequest(http.MethodPost, base, strings.NewReader("links=https://example.com/x"))
	req.Header.Set(admin.CSRFHeader, "1")
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Fatalf("a form body: %s", resp.Status)
	}
	if used, _ := r.dl.DownloadQuota(); used != 0 {
		t.Fatalf("a refused request added %d tasks", used)
	}
}
