package aliyun

import (
	"crypto/sha256"
	"encoding/hex"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
)

// The web API's device signature (docs/protocols/aliyun.md §1). As OpenList does,
// the device id is hex(SHA256(user_id)) and the same 32 bytes are the
// secp256k1 private key, so one user always signs as one device and a
// restart does not count as another of the ten devices allowed.

// signAppID is the web client's application id, the first field of the
// signed message.
const signAppID = "5dde4e1bdf9e4966b387ba58f4b3fdc3"

// device is a user's signing identity.
type device struct {
	User      string // the user_id it belongs to
	ID        string // X-Device-Id
	PubKey    string // hex of X‖Y, for create_session
	Signature string // X-Signature for nonce 0: hex of r‖s‖v
}

// newDevice derives the device of userID and signs its nonce-0 message.
// The signature is deterministic (RFC 6979), so it is made once.
func newDevice(userID string) device {
	sum := sha256.Sum256([]byte(userID))
	id := hex.EncodeToString(sum[:])
	key := secp256k1.PrivKeyFromBytes(sum[:])
	pub := key.PubKey().SerializeUncompressed() // 04‖X‖Y
	return device{User: userID, ID: id, PubKey: hex.EncodeToString(pub[1:]), Signature: sign(key, id, userID, "0")}
}

// sign signs "<app>:<device>:<user>:<nonce>" and returns hex(r‖s‖v),
// v being the recovery id 0 or 1, low-S, as the service expects.
func sign(key *secp256k1.PrivateKey, deviceID, userID, nonce string) string {
	hash := sha256.Sum256([]byte(signAppID + ":" + deviceID + ":" + userID + ":" + nonce))
	// SignCompact puts the recovery code first: 27 + id (+4 for a
	// compressed key), then r and s.
	c := ecdsa.SignCompact(key, hash[:], false)
	out := make([]byte, 65)
	copy(out, c[1:])
	out[64] = c[0] - 27
	return hex.EncodeToString(out)
}
