package aliyuntest

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
)

// The web API's device session (docs/protocols/aliyun.md §1): a client registers a
// secp256k1 public key for its X-Device-Id with create_session, then signs
// "<app id>:<device id>:<user id>:<nonce>" and sends the signature as
// X-Signature on every call.

const signAppID = "5dde4e1bdf9e4966b387ba58f4b3fdc3"

// signedMessage is the hash a device signs.
func signedMessage(deviceID, userID, nonce string) []byte {
	sum := sha256.Sum256([]byte(signAppID + ":" + deviceID + ":" + userID + ":" + nonce))
	return sum[:]
}

// verify checks an X-Signature, hex of r‖s‖v (v is ignored: clients send
// a recovery id or a constant "01"), against pub.
func verify(pub *secp256k1.PublicKey, sigHex string, hash []byte) bool {
	b, err := hex.DecodeString(sigHex)
	if err != nil || len(b) < 64 {
		return false
	}
	var r, s secp256k1.ModNScalar
	if r.SetByteSlice(b[:32]) || s.SetByteSlice(b[32:64]) || r.IsZero() || s.IsZero() {
		return false
	}
	return ecdsa.NewSignature(&r, &s).Verify(hash, pub)
}

// parsePub reads pubKey as clients send it: hex of X‖Y (OpenList) or of
// 04‖X‖Y (tickstep).
func parsePub(h string) (*secp256k1.PublicKey, bool) {
	b, err := hex.DecodeString(h)
	if err != nil {
		return nil, false
	}
	if len(b) == 64 {
		b = append([]byte{4}, b...)
	}
	pub, err := secp256k1.ParsePubKey(b)
	return pub, err == nil
}

func writeSignatureInvalid(w http.ResponseWriter) {
	writeErr(w, http.StatusBadRequest, "DeviceSessionSignatureInvalid", "device session signature error")
}

// checkDevice refuses a call without a known device and a valid
// signature, as the service has since February 2023.
func (s *Server) checkDevice(w http.ResponseWriter, r *http.Request) bool {
	deviceID := r.Header.Get("X-Device-Id")
	s.mu.Lock()
	off := s.web.sessionChecksOff
	pubBytes, known := s.web.devices[deviceID]
	s.mu.Unlock()
	if off {
		return true
	}
	if deviceID == "" {
		writeErr(w, http.StatusForbidden, "UserDeviceIllegality", "invalid X-Device-Id")
		return false
	}
	if !known {
		writeSignatureInvalid(w)
		return false
	}
	pub, _ := secp256k1.ParsePubKey(pubBytes)
	if !verify(pub, r.Header.Get("X-Signature"), signedMessage(deviceID, s.userID, "0")) {
		writeSignatureInvalid(w)
		return false
	}
	return true
}

// handleCreateSession registers the device's public key. The call is
// itself signed with the key it registers.
func (s *Server) handleCreateSession(w http.ResponseWriter, r *http.Request) {
	if !s.begin(w, endpointOf(r)) || !s.webAuthorize(w, r) {
		return
	}
	var req createSessionRequest
	body, ok := readBody(w, r)
	if !ok || !decode(w, body, &req) {
		return
	}
	deviceID := r.Header.Get("X-Device-Id")
	if deviceID == "" {
		writeErr(w, http.StatusForbidden, "UserDeviceIllegality", "invalid X-Device-Id")
		return
	}
	pub, ok := parsePub(strings.TrimSpace(req.PubKey))
	if !ok {
		writeErr(w, http.StatusBadRequest, "InvalidParameter.PubKey", "The input parameter pubKey is not valid.")
		return
	}
	if !verify(pub, r.Header.Get("X-Signature"), signedMessage(deviceID, s.userID, "0")) {
		writeSignatureInvalid(w)
		return
	}
	s.mu.Lock()
	s.web.devices[deviceID] = pub.SerializeUncompressed()
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]bool{"result": true, "success": true})
}

// ResetDeviceSessions forgets every registered device, so that the next
// signed call answers DeviceSessionSignatureInvalid, as when the service
// drops a session.
func (s *Server) ResetDeviceSessions() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.web.devices = map[string][]byte{}
}

// SetDeviceChecks turns the device signature checks on (the default) or
// off, for tests of other behaviour.
func (s *Server) SetDeviceChecks(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.web.sessionChecksOff = !on
}
