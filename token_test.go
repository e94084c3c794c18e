package tokenerrors

import (
	"encoding/json"
	"testing"
	"time"
)

func TestCompleteToken(t *testing.T) {
	now := time.Date(2025, 3, 31, 12, 12, 17, 0, time.UTC)
	tests := []struct {
		name, in, want string
	}{
		{"AIRisk's success", `{"access_token":"t","expiration":"2025-03-31T13:12:17Z"}`,
			`{"access_token":"t","expiration":"2025-03-31T13:12:17Z","token_type":"Bearer","expires_in":3600}`},
		{"pretty, trailing space", "{\n  \"access_token\": \"t\",\n  \"expiration\": \"2025-03-31T12:12:47.5Z\"\n}\n",
			"{\n  \"access_token\": \"t\",\n  \"expiration\": \"2025-03-31T12:12:47.5Z\",\"token_type\":\"Bearer\",\"expires_in\":30}"},
		{"expired: never negative", `{"access_token":"t","expiration":"2020-01-01T00:00:00Z"}`,
			`{"access_token":"t","expiration":"2020-01-01T00:00:00Z","token_type":"Bearer","expires_in":0}`},
		{"ASP.NET unspecified kind", `{"access_token":"t","expiration":"2025-03-31T12:13:17.1234567"}`,
			`{"access_token":"t","expiration":"2025-03-31T12:13:17.1234567","token_type":"Bearer","expires_in":60}`},
		{"expiration not a string", `{"access_token":"t","expiration":1234567890}`,
			`{"access_token":"t","expiration":1234567890,"token_type":"Bearer"}`},
		{"complete already", `{"access_token":"t","token_type":"DPoP","expires_in":5}`, ""},
		{"other case is not the member", `{"access_token":"t","Token_Type":"bearer","EXPIRES_IN":5}`,
			`{"access_token":"t","Token_Type":"bearer","EXPIRES_IN":5,"token_type":"Bearer"}`},
		{"no access_token", `{"ACCESS_TOKEN":"t"}`, ""},
		{"null access_token", `{"access_token":null}`, ""},
		{"array", `[{"access_token":"t"}]`, ""},
		{"broken", `{"access_token":"t"`, ""},
	}
	for _, tt := range tests {
		got, changed := completeToken([]byte(tt.in), now)
		if tt.want == "" {
			if changed || string(got) != tt.in {
				t.Errorf("%s: changed to %s", tt.name, got)
			}
			continue
		}
		if !changed || string(got) != tt.want || !json.Valid(got) {
			t.Errorf("%s:\n got %s\nwant %s", tt.name, got, tt.want)
		}
	}
}
