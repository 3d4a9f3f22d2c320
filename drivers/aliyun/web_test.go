package aliyun

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
	"github.com/rs/zerolog"

	"pandav/drivers"
	"pandav/drivers/aliyun/aliyuntest"
	"pandav/drivers/drivertest"
	"pandav/drivers/internal/upstream"
	"pandav/internal/fakecloud"
)

func webOptions(srv *aliyuntest.Server) Options {
	return Options{API: "web", RefreshToken: srv.WebLogin().Issue().Refresh, WebAPIURL: srv.URL(), AuthURL: srv.AuthURL()}
}

// webCloud is the emulator as a driver with api: web sees it: its own
// login, its own endpoints and the small test pages.
type webCloud struct{ *aliyuntest.Server }

func (c webCloud) Login() *fakecloud.Logins { return c.WebLogin() }

func (c webCloud) Endpoints() fakecloud.Endpoints {
	ep := c.Server.Endpoints()
	ep.List, ep.Link = "adrive/v3/file/list", "v2/file/get_download_url"
	return ep
}

func (webCloud) PageSize() int { return testPageSize }

func TestWebConformanceRead(t *testing.T) {
	t.Parallel()
	drivertest.RunRead(t, func(t *testing.T) *drivertest.Fixture {
		// The real rates are exercised by drivertest's TestClouds; this
		// one paces nothing, to stay quick.
		srv := newEmulator(t, aliyuntest.Options{RateList: -1, RateLink: -1, RateOther: -1})
		o := webOptions(srv)
		o.PageSize = testPageSize
		return &drivertest.Fixture{Drive: mustDrive(t, testEnv(t), o, fast), Cloud: webCloud{srv}}
	})
}

func TestDeviceSignature(t *testing.T) {
	a, b := newDevice("user-1"), newDevice("user-1")
	if a != b {
		t.Fatalf("the device is not derived from the user alone: %+v %+v", a, b)
	}
	if len(a.ID) != 64 || len(a.PubKey) != 128 || len(a.Signature) != 130 {
		t.Fatalf("lengths: id %d, pub %d, sig %d", len(a.ID), len(a.PubKey), len(a.Signature))
	}
	sig, _ := hex.DecodeString(a.Signature)
	if v := sig[64]; v > 1 {
		t.Fatalf("recovery id %d, want 0 or 1", v)
	}
	hash := sha256.Sum256([]byte(signAppID + ":" + a.ID + ":user-1:0"))
	compact := append([]byte{27 + sig[64]}, sig[:64]...)
	pub, _, err := ecdsa.RecoverCompact(compact, hash[:])
	if err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(pub.SerializeUncompressed()[1:]); got != a.PubKey {
		t.Fatalf("the signature recovers another key")
	}
	if newDevice("user-2").ID == a.ID {
		t.Fatalf("two users share a device")
	}
}

// resetter drops the emulator's device sessions before every signed call
// but create_session, so that each call is refused for its signature.
type resetter struct{ srv *aliyuntest.Server }

func (r resetter) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Header.Get("X-Signature") != "" && !strings.HasSuffix(req.URL.Path, "/create_session") {
		r.srv.ResetDeviceSessions()
	}
	return http.DefaultTransport.RoundTrip(req)
}

func TestWebDeviceSession(t *testing.T) {
	srv := newEmulator(t, aliyuntest.Options{})
	srv.Tree().PutPath("/a.txt", fakecloud.BytesBlob([]byte("a")))
	d := mustDrive(t, testEnv(t), webOptions(srv), fast)
	ctx := ctxT(t)
	if kids, err := d.List(ctx, rootEntry(t, d)); err != nil || len(kids) != 1 {
		t.Fatalf("list: %v %v", kids, err)
	}
	if n := srv.Counters().Get("users/v1/users/device/create_session"); n != 1 {
		t.Fatalf("%d create_session calls, want 1", n)
	}
	// A dropped session is registered again, once.
	srv.ResetDeviceSessions()
	if _, err := d.List(ctx, rootEntry(t, d)); err != nil {
		t.Fatal(err)
	}
	if n := srv.Counters().Get("users/v1/users/device/create_session"); n != 2 {
		t.Fatalf("%d create_session calls, want 2", n)
	}
	// A signature refused whatever is done gives up after 3 sessions.
	env := testEnv(t)
	env.HTTPClient = &http.Client{Transport: resetter{srv}}
	d2 := mustDrive(t, env, webOptions(srv), fast)
	_, err := d2.List(ctx, rootEntry(t, d2))
	if !errors.Is(err, drivers.ErrAuth) || !strings.Contains(err.Error(), "DeviceSessionSignatureInvalid") {
		t.Fatalf("endless signature refusal: %v, want ErrAuth", err)
	}
	if n := srv.Counters().Get("users/v1/users/device/create_session"); n != 2+1+maxSessionRenewals {
		t.Fatalf("%d create_session calls, want %d", n, 2+1+maxSessionRenewals)
	}
}

func TestWebRotationAndLink(t *testing.T) {
	srv := newEmulator(t, aliyuntest.Options{})
	f, _ := srv.Tree().PutPath("/v/a.mp4", fakecloud.BytesBlob([]byte("video")))
	env := testEnv(t)
	var logs syncBuf
	env.Log = zerolog.New(&logs).Level(zerolog.DebugLevel)
	o := webOptions(srv)
	d := mustDrive(t, env, o, fast)
	ctx := ctxT(t)
	e, err := d.Get(ctx, f.ID)
	if err != nil {
		t.Fatal(err)
	}
	l, err := d.Link(ctx, e, drivers.LinkRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if l.Header.Get("Referer") == "" {
		t.Fatalf("a web link without its Referer: %+v", l)
	}
	got, err := drivertest.FetchLink(ctx, l, 0, -1)
	if err != nil || string(got) != "video" {
		t.Fatalf("fetch: %q %v", got, err)
	}
	if _, err := drivertest.FetchLink(ctx, drivers.Link{URL: l.URL}, 0, -1); err == nil {
		t.Fatalf("the CDN served a web link without its Referer")
	}
	tok, ok, err := newWebStore(env, o.RefreshToken).Load()
	if err != nil || !ok || tok.Refresh != srv.WebLogin().Latest() || tok.Refresh == o.RefreshToken {
		t.Fatalf("the rotated web token is not stored: ok=%v err=%v", ok, err)
	}
	// Writes are refused before any call.
	if _, err := d.Mkdir(ctx, rootEntry(t, d), "x"); !errors.Is(err, drivers.ErrUnsupported) {
		t.Fatalf("mkdir under api: web: %v", err)
	}
	if _, err := d.Quota(ctx); !errors.Is(err, drivers.ErrUnsupported) {
		t.Fatalf("quota under api: web: %v", err)
	}
	// A spent token, in another install, is refused and said so.
	d2 := mustDrive(t, testEnv(t), o, fast)
	if _, err := d2.List(ctx, rootEntry(t, d2)); !errors.Is(err, drivers.ErrAuth) {
		t.Fatalf("spent web token: %v", err)
	}
	for _, secret := range []string{o.RefreshToken, srv.WebLogin().Latest(), "x-oss-signature"} {
		if strings.Contains(logs.String(), secret) {
			t.Fatalf("a secret leaked into the log:\n%s", logs.String())
		}
	}
}

// v2Only answers /adrive/v3/file/list as an unrouted path, as a service
// without it would.
type v2Only struct{}

func (v2Only) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Path == "/adrive/v3/file/list" {
		body := `{"timestamp":"2024-01-01T00:00:00.000Z","status":404,"error":"Not Found","path":"/adrive/v3/file/list"}`
		return &http.Response{StatusCode: 404, Header: http.Header{"Content-Type": {"application/json"}},
			Body: io.NopCloser(bytes.NewReader([]byte(body))), Request: req}, nil
	}
	return http.DefaultTransport.RoundTrip(req)
}

func TestWebListFallsBackToV2(t *testing.T) {
	srv := newEmulator(t, aliyuntest.Options{})
	srv.Tree().PutPath("/a.txt", fakecloud.BytesBlob([]byte("a")))
	env := testEnv(t)
	env.HTTPClient = &http.Client{Transport: v2Only{}}
	d := mustDrive(t, env, webOptions(srv), fast)
	for range 2 {
		if kids, err := d.List(ctxT(t), rootEntry(t, d)); err != nil || len(kids) != 1 {
			t.Fatalf("list: %v %v", kids, err)
		}
	}
	if srv.Counters().Get("v2/file/list") != 2 {
		t.Fatalf("v2/file/list called %d times, want 2", srv.Counters().Get("v2/file/list"))
	}
}

func newWebStore(env drivers.Env, seed string) *upstream.TokenStore {
	return upstream.NewTokenStore(env.StateDir, "aliyun-web", seed)
}
