package pan115test

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func getJSON(t *testing.T, u string) map[string]any {
	t.Helper()
	resp, err := http.Get(u)
	return decodeAnswer(t, resp, err)
}

// deviceCode asks for a code with the challenge of verifier.
func startCode(t *testing.T, s *Server, challenge, method string) (uid string, status url.Values) {
	t.Helper()
	m := post(t, s.PassportURL()+"/open/authDeviceCode", url.Values{"client_id": {s.AppID()}, "code_challenge": {challenge}, "code_challenge_method": {method}})
	if m["state"] != json.Number("1") {
		t.Fatalf("authDeviceCode: %v", m)
	}
	d := m["data"].(map[string]any)
	if _, isNum := d["time"].(json.Number); !isNum {
		t.Fatalf("time is %T, want a number", d["time"])
	}
	uid = d["uid"].(string)
	return uid, url.Values{"uid": {uid}, "time": {d["time"].(json.Number).String()}, "sign": {d["sign"].(string)}}
}

func TestDeviceCodeChallenges(t *testing.T) {
	s := NewServer(Options{})
	defer s.Close()
	verifier := strings.Repeat("abcdefgh", 6)
	s256, s1, m5 := sha256.Sum256([]byte(verifier)), sha1.Sum([]byte(verifier)), md5.Sum([]byte(verifier))
	for _, tc := range []struct {
		name, challenge, method string
	}{
		{"sha256 std", base64.StdEncoding.EncodeToString(s256[:]), "sha256"},
		{"sha256 url-safe", base64.RawURLEncoding.EncodeToString(s256[:]), "sha256"},
		{"sha1", base64.StdEncoding.EncodeToString(s1[:]), "sha1"},
		{"md5", base64.URLEncoding.EncodeToString(m5[:]), "md5"},
	} {
		uid, _ := startCode(t, s, tc.challenge, tc.method)
		early := post(t, s.PassportURL()+"/open/deviceCodeToToken", url.Values{"uid": {uid}, "code_verifier": {verifier}})
		if early["state"] != json.Number("0") || early["errno"] != json.Number("40101017") {
			t.Fatalf("%s: a code traded before its confirmation: %v", tc.name, early)
		}
		s.QRCodes().ConfirmLogin(uid)
		wrong := post(t, s.PassportURL()+"/open/deviceCodeToToken", url.Values{"uid": {uid}, "code_verifier": {strings.Repeat("x", 48)}})
		if wrong["code"] != json.Number("40140113") || wrong["error"] != "code_verifier 验证失败" {
			t.Fatalf("%s: a wrong verifier: %v", tc.name, wrong)
		}
		ok := post(t, s.PassportURL()+"/open/deviceCodeToToken", url.Values{"uid": {uid}, "code_verifier": {verifier}})
		if ok["state"] != json.Number("1") || ok["data"].(map[string]any)["refresh_token"] != s.Login().Latest() {
			t.Fatalf("%s: the trade: %v", tc.name, ok)
		}
		if again := post(t, s.PassportURL()+"/open/deviceCodeToToken", url.Values{"uid": {uid}, "code_verifier": {verifier}}); again["state"] != json.Number("0") {
			t.Fatalf("%s: a code traded twice: %v", tc.name, again)
		}
	}
	short := post(t, s.PassportURL()+"/open/deviceCodeToToken", url.Values{"uid": {"x"}, "code_verifier": {"short"}})
	if short["code"] != json.Number("40140112") {
		t.Fatalf("a short verifier: %v", short)
	}
	for _, tc := range []struct {
		form url.Values
		code string
	}{
		{url.Values{"client_id": {"123"}, "code_challenge": {"c"}, "code_challenge_method": {"sha256"}}, "40140106"},
		{url.Values{"client_id": {"app"}, "code_challenge": {"c"}, "code_challenge_method": {"sha256"}}, "40140100"},
		{url.Values{"client_id": {s.AppID()}, "code_challenge_method": {"sha256"}}, "40140101"},
		{url.Values{"client_id": {s.AppID()}, "code_challenge": {"c"}, "code_challenge_method": {"S256"}}, "40140102"},
	} {
		if m := post(t, s.PassportURL()+"/open/authDeviceCode", tc.form); m["state"] != json.Number("0") || m["code"] != json.Number(tc.code) || m["errno"] != json.Number(tc.code) {
			t.Fatalf("authDeviceCode %v: %v, want %s", tc.form, m, tc.code)
		}
	}
}

// TestQRStatusLongPoll: the status poll is held until the state changes;
// an expired code is told once as -1, then as state 0.
func TestQRStatusLongPoll(t *testing.T) {
	s := NewServer(Options{LongPoll: 5 * time.Second})
	defer s.Close()
	_, q := startCode(t, s, "c", "sha256")
	status := s.QRCodeURL() + "/get/status/?" + q.Encode()
	bad := url.Values{"uid": q["uid"], "time": q["time"], "sign": {"bad"}}
	if m := getJSON(t, s.QRCodeURL()+"/get/status/?"+bad.Encode()); m["code"] != json.Number("40140104") {
		t.Fatalf("a wrong sign: %v", m)
	}
	go func() {
		time.Sleep(100 * time.Millisecond)
		s.QRCodes().ScanLogin(q.Get("uid"))
	}()
	start := time.Now()
	m := getJSON(t, status)
	if d := m["data"].(map[string]any); d["status"] != json.Number("1") || time.Since(start) < 100*time.Millisecond {
		t.Fatalf("the poll answered %v after %v, want status 1 once scanned", m, time.Since(start))
	}
	s.QRCodes().ExpireLogin(q.Get("uid"))
	if m := getJSON(t, status); m["state"] != json.Number("1") || m["data"].(map[string]any)["status"] != json.Number("-1") {
		t.Fatalf("the first poll after expiry: %v", m)
	}
	if m := getJSON(t, status); m["state"] != json.Number("0") {
		t.Fatalf("a later poll of the expired code: %v", m)
	}
}
