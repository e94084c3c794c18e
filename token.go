package tokenerrors

import (
	"bytes"
	"encoding/json"
	"strconv"
	"time"
)

// completeToken adds to a token response what OAuth clients need and
// AIRisk leaves out: `token_type` (RFC 6749 section 5.1 requires it;
// oauth4webapi and openid-client refuse a response without it) and
// `expires_in`, computed from AIRisk's absolute `expiration`. Every
// member the upstream sent stays as it was, bytes and order. It
// reports false, and body is to be sent unchanged, when body is not a
// JSON object with an `access_token` or lacks nothing.
func completeToken(body []byte, now time.Time) ([]byte, bool) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) < 2 || trimmed[0] != '{' {
		return body, false
	}
	var t struct {
		AccessToken json.RawMessage `json:"access_token"`
		TokenType   json.RawMessage `json:"token_type"`
		ExpiresIn   json.RawMessage `json:"expires_in"`
		Expiration  string          `json:"expiration"`
	}
	if json.Unmarshal(trimmed, &t) != nil || t.AccessToken == nil {
		return body, false
	}
	var add []byte
	if t.TokenType == nil {
		add = append(add, `"token_type":"Bearer"`...)
	}
	if t.ExpiresIn == nil {
		if exp, err := time.Parse(time.RFC3339, t.Expiration); err == nil {
			if len(add) > 0 {
				add = append(add, ',')
			}
			secs := int64(exp.Sub(now) / time.Second)
			add = append(add, `"expires_in":`...)
			add = strconv.AppendInt(add, max(secs, 0), 10)
		}
	}
	if len(add) == 0 {
		return body, false
	}

	// Insert before the closing brace, with a comma unless the object
	// is empty of members.
	inner := bytes.TrimSpace(trimmed[1 : len(trimmed)-1])
	out := make([]byte, 0, len(trimmed)+len(add)+1)
	out = append(out, trimmed[:len(trimmed)-1]...)
	out = bytes.TrimRight(out, " \t\r\n")
	if len(inner) > 0 {
		out = append(out, ',')
	}
	out = append(out, add...)
	return append(out, '}'), true
}
