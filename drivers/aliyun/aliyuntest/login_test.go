package aliyuntest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func postJSON(t *testing.T, u string, body any) (int, map[string]any) {
	t.Helper()
	b, _ := json.Marshal(body)
	resp, err := http.Post(u, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

func getStatus(t *testing.T, s *Server, sid string) map[string]any {
	t.Helper()
	resp, err := http.Get(s.URL() + "/oauth/qrcode/" + sid + "/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	json.NewDecoder(resp.Body).Decode(&m)
	return m
}

// TestOpenQRLogin: the states a code goes through, an authCode good
// once, and the client checked at both ends.
func TestOpenQRLogin(t *testing.T) {
	s := NewServer(Options{})
	defer s.Close()
	scopes := []string{"user:base", "file:all:read"}
	if st, m := postJSON(t, s.URL()+"/oauth/authorize/qrcode", map[string]any{"client_id": s.ClientID(), "client_secret": "wrong", "scopes": scopes}); st != http.StatusUnauthorized || m["code"] != "InvalidClient" {
		t.Fatalf("a wrong secret: %d %v", st, m)
	}
	st, m := postJSON(t, s.URL()+"/oauth/authorize/qrcode", map[string]any{"client_id": s.ClientID(), "client_secret": s.ClientSecret(), "scopes": scopes})
	sid, _ := m["sid"].(string)
	if st != http.StatusOK || sid == "" || m["qrCodeUrl"] == "" {
		t.Fatalf("a code: %d %v", st, m)
	}
	for _, step := range []struct {
		act  func(string) error
		want string
	}{
		{func(string) error { return nil }, "WaitLogin"},
		{s.QRCodes().ScanLogin, "ScanSuccess"},
		{s.QRCodes().ConfirmLogin, "LoginSuccess"},
	} {
		if err := step.act(sid); err != nil {
			t.Fatal(err)
		}
		if m := getStatus(t, s, sid); m["status"] != step.want {
			t.Fatalf("status %v, want %s", m, step.want)
		}
	}
	code := getStatus(t, s, sid)["authCode"].(string)
	if again := getStatus(t, s, sid)["authCode"]; again != code {
		t.Fatal("the authCode changed between polls")
	}
	trade := map[string]any{"client_id": s.ClientID(), "client_secret": "wrong", "grant_type": "authorization_code", "code": code}
	if st, m := postJSON(t, s.URL()+"/oauth/access_token", trade); st != http.StatusUnauthorized {
		t.Fatalf("a trade with a wrong secret: %d %v", st, m)
	}
	trade["client_secret"] = s.ClientSecret()
	if st, m := postJSON(t, s.URL()+"/oauth/access_token", trade); st != http.StatusOK || m["refresh_token"] != s.Login().Latest() {
		t.Fatalf("the trade: %d %v", st, m)
	}
	if st, m := postJSON(t, s.URL()+"/oauth/access_token", trade); st != http.StatusBadRequest || m["code"] != "InvalidParameter.Code" {
		t.Fatalf("a reused authCode: %d %v", st, m)
	}
	if m := getStatus(t, s, "nope"); m["status"] != "QRCodeExpired" {
		t.Fatalf("an unknown sid: %v", m)
	}
}

// TestPassportBizExt: a confirmed passport code carries a web login in
// base64 JSON that is not UTF-8, redeemable at the web token endpoint.
func TestPassportBizExt(t *testing.T) {
	s := NewServer(Options{})
	defer s.Close()
	resp, err := http.Get(s.PassportURL() + "/newlogin/qrcode/generate.do?appName=aliyun_drive&fromSite=52")
	if err != nil {
		t.Fatal(err)
	}
	var gen struct {
		Content struct {
			Data struct {
				T  json.Number `json:"t"`
				CK string      `json:"ck"`
			} `json:"data"`
		} `json:"content"`
	}
	json.NewDecoder(resp.Body).Decode(&gen)
	resp.Body.Close()
	query := func() map[string]any {
		resp, err := http.PostForm(s.PassportURL()+"/newlogin/qrcode/query.do", url.Values{"t": {gen.Content.Data.T.String()}, "ck": {gen.Content.Data.CK}})
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m struct {
			Content struct {
				Data map[string]any `json:"data"`
			} `json:"content"`
		}
		json.NewDecoder(resp.Body).Decode(&m)
		return m.Content.Data
	}
	if d := query(); d["qrCodeStatus"] != "NEW" {
		t.Fatalf("a new code: %v", d)
	}
	s.QRCodes().ScanLogin(gen.Content.Data.CK)
	if d := query(); d["qrCodeStatus"] != "SCANED" {
		t.Fatalf("a scanned code: %v", d)
	}
	s.QRCodes().ConfirmLogin(gen.Content.Data.CK)
	d := query()
	raw, err := base64.StdEncoding.DecodeString(d["bizExt"].(string))
	if d["qrCodeStatus"] != "CONFIRMED" || err != nil || !bytes.Contains(raw, []byte(gbkName)) {
		t.Fatalf("a confirmed code: %v (%v)", d, err)
	}
	var biz struct {
		R struct {
			RefreshToken string `json:"refreshToken"`
		} `json:"pds_login_result"`
	}
	json.Unmarshal(raw, &biz)
	if biz.R.RefreshToken != s.WebLogin().Latest() {
		t.Fatal("bizExt does not hold the new web login")
	}
	resp, err = http.Post(s.AuthURL()+"/v2/account/token", "application/json",
		strings.NewReader(`{"grant_type":"refresh_token","refresh_token":"`+biz.R.RefreshToken+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("redeeming the web login: %d %s", resp.StatusCode, b)
	}
}
