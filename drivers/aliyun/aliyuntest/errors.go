package aliyuntest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"pandav/internal/fakecloud"
)

// timeFormat is the service's timestamp shape: RFC3339, UTC, milliseconds.
const timeFormat = "2006-01-02T15:04:05.000Z"

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeErr(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, apiError{Code: code, Message: msg, RequestID: randHex(8)})
}

// writeOSSErr is the object store's XML error, as the CDN sends it.
func writeOSSErr(w http.ResponseWriter, status int, code, msg, extra string) {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	fmt.Fprintf(w, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error>\n  <Code>%s</Code>\n  <Message>%s</Message>\n  <RequestId>%s</RequestId>\n  <HostId>cn-beijing-data.aliyundrive.net</HostId>%s\n</Error>\n",
		code, msg, randHex(12), extra)
}

// writeFault renders an injected fault the way the Open API or the proxy
// in front of it does.
func (s *Server) writeFault(w http.ResponseWriter, k fakecloud.FaultKind) {
	switch k {
	case fakecloud.Throttle:
		s.throttle(w)
	case fakecloud.ServerError:
		writeErr(w, http.StatusInternalServerError, "InternalError", "Internal Server Error")
	case fakecloud.Transient:
		writeErr(w, http.StatusServiceUnavailable, "ServiceUnavailable", "Service is unavailable, please try again later")
	case fakecloud.BadGateway:
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusBadGateway)
		w.Write([]byte("Bad Gateway"))
	case fakecloud.Garbage:
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusOK)
		w.Write([]byte("<html><head><title>502 Bad Gateway</title></head><body><center><h1>Tengine</h1></center></body></html>"))
	case fakecloud.Truncated:
		// Success with nothing in it, as a gateway that cut the answer
		// sends: no items list, no next_marker.
		w.Header().Set("Content-Type", "application/json;charset=UTF-8")
		w.Header().Set("Content-Length", "0")
		w.WriteHeader(http.StatusOK)
	case fakecloud.Reset:
		hj, ok := w.(http.Hijacker)
		if !ok {
			panic(http.ErrAbortHandler)
		}
		conn, _, err := hj.Hijack()
		if err == nil {
			conn.Close()
		}
	default:
		writeErr(w, http.StatusInternalServerError, "InternalError", "unknown fault "+string(k))
	}
}

func expiredXML(expires time.Time) string {
	return fmt.Sprintf("\n  <Expires>%s</Expires>\n  <ServerTime>%s</ServerTime>",
		expires.UTC().Format(time.RFC3339), time.Now().UTC().Format(time.RFC3339))
}
