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
// JSON object with a string `access_token` or lacks nothing.
//
// Member names are matched exactly, as RFC 6749 spells them: a
// `Token_Type` is not a `token_type`.
func completeToken(body []byte, now time.Time) ([]byte, bool) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) < 2 || trimmed[0] != '{' {
		return body, false
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(trimmed, &obj) != nil || jsonString(obj["access_token"]) == "" {
		return body, false
	}
	var add []byte
	if _, ok := obj["token_type"]; !ok {
		add = append(add, `"token_type":"Bearer"`...)
	}
	if _, ok := obj["expires_in"]; !ok {
		if exp, ok := parseExpiration(jsonString(obj["expiration"])); ok {
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

	// Insert before the closing brace; the object has at least
	// access_token, so a comma goes first.
	out := make([]byte, 0, len(trimmed)+len(add)+1)
	out = bytes.TrimRight(append(out, trimmed[:len(trimmed)-1]...), " \t\r\n")
	out = append(out, ',')
	out = append(out, add...)
	return append(out, '}'), true
}

// parseExpiration reads an absolute expiry: RFC 3339, or the form
// ASP.NET Core writes for a DateTime of unspecified kind (no zone,
// up to seven fractional digits), taken as UTC.
func parseExpiration(s string) (time.Time, bool) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, true
	}
	if t, err := time.Parse("2006-01-02T15:04:05.9999999", s); err == nil {
		return t, true
	}
	return time.Time{}, false
}
