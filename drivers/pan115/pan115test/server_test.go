package pan115test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func post(t *testing.T, u string, form url.Values) map[string]any {
	t.Helper()
	resp, err := http.PostForm(u, form)
	return decodeAnswer(t, resp, err)
}

// decodeAnswer reads an answer's JSON, with numbers as json.Number.
func decodeAnswer(t *testing.T, resp *http.Response, err error) map[string]any {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	d := json.NewDecoder(resp.Body)
	d.UseNumber()
	if err := d.Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestRefreshTokensAreSingleUse(t *testing.T) {
	s := NewServer(Options{})
	defer s.Close()
	rt := s.Login().Issue().Refresh
	first := post(t, s.PassportURL()+"/open/refreshToken", url.Values{"refresh_token": {rt}})
	if first["state"] != json.Number("1") {
		t.Fatalf("refresh state %v, want the number 1", first["state"])
	}
	data := first["data"].(map[string]any)
	if data["refresh_token"] == rt || data["refresh_token"] != s.Login().Latest() || data["access_token"] == "" {
		t.Fatalf("refresh data %v", data)
	}
	again := post(t, s.PassportURL()+"/open/refreshToken", url.Values{"refresh_token": {rt}})
	if again["state"] != json.Number("0") || again["code"] != json.Number("40140120") || len(again["data"].(map[string]any)) != 0 {
		t.Fatalf("reuse answered %v", again)
	}
	if s.Login().Reuses() != 1 || s.Counters().Get(EndpointRefresh) != 2 {
		t.Fatalf("reuses %d, calls %d", s.Login().Reuses(), s.Counters().Get(EndpointRefresh))
	}
}

func TestExpiredTokenIsHTTP200(t *testing.T) {
	s := NewServer(Options{})
	defer s.Close()
	sawErrno := false
	for i := 0; i < 2; i++ {
		req, _ := http.NewRequest(http.MethodGet, s.APIURL()+"/open/user/info", nil)
		req.Header.Set("Authorization", "Bearer nope")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), `"code":40140125`) {
			t.Fatalf("%d %s", resp.StatusCode, b)
		}
		sawErrno = sawErrno || strings.Contains(string(b), `"errno":40140125`)
	}
	if !sawErrno {
		t.Fatal("errno never sent")
	}
	if s.Counters().Get(EndpointUser) != 2 {
		t.Fatal("calls not counted")
	}
}
