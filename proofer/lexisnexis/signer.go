package lexisnexis

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"time"
)

// SignInput is what the RDP HMAC Authorization header covers.
type SignInput struct {
	KeyID  string
	Secret []byte
	Time   time.Time
	// Nonce is a fresh UUID per request.
	Nonce string
	// Host is lexisnexis_base_url without "https://"; Path the request path.
	Host, Path string
	Body       []byte
}

// Sign returns the Authorization header value of the RDP HMAC scheme
// (RDP REST v3 Decisioning Guide, March 2022, pp. 20–21):
//
//	HMAC-SHA256 keyid=<key id>, ts=<ms since epoch>, nonce=<uuid>, bodyHash=<b64>, signature=<b64>
//
// where bodyHash is base64(HMAC-SHA256(secret, body)) — an HMAC, not a plain
// hash — and signature is base64(HMAC-SHA256(secret, ts\nnonce\nhost\npath\nbodyHash)).
func Sign(in SignInput) string {
	ts := strconv.FormatInt(in.Time.UnixMilli(), 10)
	bodyHash := mac(in.Secret, in.Body)
	sig := mac(in.Secret, []byte(ts+"\n"+in.Nonce+"\n"+in.Host+"\n"+in.Path+"\n"+bodyHash))
	return "HMAC-SHA256 keyid=" + in.KeyID + ", ts=" + ts + ", nonce=" + in.Nonce + ", bodyHash=" + bodyHash + ", signature=" + sig
}

func mac(key, msg []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write(msg)
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}
