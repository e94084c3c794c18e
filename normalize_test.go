package tokenerrors

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
)

// documented reads one of AIRisk's documented responses.
func documented(t testing.TB, name string) Upstream {
	t.Helper()
	res, body := ReadCapture(t, name)
	return Upstream{Status: res.StatusCode, ContentType: res.Header.Get("Content-Type"), Body: body}
}

func testPolicy() *Policy {
	return &Policy{TypeBase: "https://errors.example/#"}
}

// The five documented AIRisk errors, byte for byte as captured.
func TestNormalizeDocumented(t *testing.T) {
	tests := []struct {
		file         string
		basic        bool
		status       int
		code, detail string
		traceID      string
	}{
		{"1-missing-client-id.http", false, 400, "invalid_client", "Invalid client_id", ""},
		{"2-invalid-code.http", false, 400, "invalid_grant", "Invalid Code", ""},
		{"3-unknown-client-id.http", false, 400, "invalid_client", "", "00-de61877dd04ebafff7c1676b5b6e9532-5debd224217a8b45-00"},
		{"3-unknown-client-id.http", true, 401, "invalid_client", "", "00-de61877dd04ebafff7c1676b5b6e9532-5debd224217a8b45-00"},
		{"4-missing-client-secret.http", false, 400, "invalid_client", "Invalid client_secret", ""},
		{"4-missing-client-secret.http", true, 401, "invalid_client", "Invalid client_secret", ""},
		{"5-invalid-client-secret.http", false, 400, "invalid_client", "", "00-c6bf787605465c8897a36d5957f00fb5-fd988d1c79cd27ed-00"},
		{"2-invalid-code.http", true, 400, "invalid_grant", "Invalid Code", ""},
	}
	for _, tt := range tests {
		u := documented(t, tt.file)
		pr := testPolicy().Normalize(u, Client{BasicAuth: tt.basic})
		body := pr.AppendJSON(nil)
		m := CheckProblem(t, tt.status, body)
		wantDescription, members := tt.detail, 7
		if tt.detail == "" {
			// The 401 problems say only "Unauthorized": no detail, and
			// the code's own description.
			wantDescription, members = "Client authentication failed", 6
		}
		if d, _ := m["detail"].(string); m["error"] != tt.code || d != tt.detail || m["error_description"] != wantDescription {
			t.Errorf("%s (basic %v): got %s", tt.file, tt.basic, body)
		}
		if m["type"] != "https://errors.example/#"+tt.code || m["title"] != titles[tt.code] {
			t.Errorf("%s: type or title: %s", tt.file, body)
		}
		if tt.traceID != "" && m["traceId"] != tt.traceID {
			t.Errorf("%s: upstream traceId not kept: %s", tt.file, body)
		}
		if len(m) != members {
			t.Errorf("%s: want exactly %d members, got %s", tt.file, members, body)
		}
	}
}

// Every shape the upstream may answer in, with what the client gets.
func TestNormalizeShapes(t *testing.T) {
	tests := []struct {
		name   string
		u      Upstream
		shape  Shape
		status int
		code   string
		detail string // "" means absent
		extra  string // a member that must be kept, as "name" (empty: none)
	}{
		{"empty 400", Upstream{Status: 400}, ShapeEmpty, 400, "invalid_request", "", ""},
		{"empty 401", Upstream{Status: 401}, ShapeEmpty, 400, "invalid_client", "", ""},
		{"ASP.NET status fallback", Upstream{Status: 404, ContentType: "text/plain", Body: []byte("Status Code: 404; Not Found                                ")}, ShapeEmpty, 404, "invalid_request", "", ""},
		{"plain text, other", Upstream{Status: 400, ContentType: "text/plain", Body: []byte("Invalid redirect_uri\r\n")}, ShapeText, 400, "invalid_request", "Invalid redirect_uri", ""},
		{"text with BOM", Upstream{Status: 400, Body: []byte("\xef\xbb\xbfInvalid Code")}, ShapeText, 400, "invalid_grant", "Invalid Code", ""},
		{"documented status_code/reason", Upstream{Status: 400, ContentType: "application/json", Body: []byte(`{"status_code":400,"reason":"Invalid Code"}`)}, ShapeReason, 400, "invalid_grant", "Invalid Code", ""},
		{"reason labelled text/plain", Upstream{Status: 400, ContentType: "text/plain", Body: []byte(` {"status_code": 401, "reason": "Invalid client_secret"}`)}, ShapeReason, 400, "invalid_client", "Invalid client_secret", ""},
		{"RFC 6749 JSON kept", Upstream{Status: 400, ContentType: "application/json", Body: []byte(`{"error":"invalid_scope","error_description":"scope x unknown","error_uri":"https://as.example/e"}`)}, ShapeOAuth, 400, "invalid_scope", "scope x unknown", ""},
		{"RFC 6749 error beats text mapping", Upstream{Status: 400, Body: []byte(`{"error":"unsupported_grant_type","error_description":"Invalid Code"}`)}, ShapeOAuth, 400, "unsupported_grant_type", "Invalid Code", ""},
		{"problem with detail and extension", Upstream{Status: 422, ContentType: "application/problem+json", Body: []byte(`{"type":"about:blank","title":"Bad","status":"422","detail":"Invalid Code","errors":{"code":["bad"]}}`)}, ShapeProblem, 422, "invalid_grant", "Invalid Code", "errors"},
		{"unlabelled JSON", Upstream{Status: 400, Body: []byte(`{"message":"code expired"}`)}, ShapeJSON, 400, "invalid_request", "code expired", "message"},
		{"top-level string", Upstream{Status: 400, ContentType: "application/json", Body: []byte(`"Invalid Code"`)}, ShapeJSON, 400, "invalid_grant", "Invalid Code", ""},
		{"top-level array", Upstream{Status: 400, Body: []byte(`[1,2]`)}, ShapeJSON, 400, "invalid_request", "", ""},
		{"broken JSON is text", Upstream{Status: 400, Body: []byte(`{"error":`)}, ShapeText, 400, "invalid_request", `{"error":`, ""},
		{"HTML 400 never shown", Upstream{Status: 400, ContentType: "text/html", Body: []byte("<h1>Bad Request</h1>")}, ShapeHTML, 400, "invalid_request", "", ""},
		{"HTML unlabelled", Upstream{Status: 502, Body: []byte("<!DOCTYPE html><html>Azure</html>")}, ShapeHTML, 502, "server_error", "", ""},
		{"503 text hidden", Upstream{Status: 503, ContentType: "text/plain", Body: []byte("at Foo.Bar() in C:\\src\\x.cs:line 4")}, ShapeText, 503, "temporarily_unavailable", "", ""},
		{"504", Upstream{Status: 504}, ShapeEmpty, 504, "temporarily_unavailable", "", ""},
		{"500 JSON hidden", Upstream{Status: 500, Body: []byte(`{"stackTrace":"..."}`)}, ShapeJSON, 500, "server_error", "", ""},
		{"over the limit", Upstream{Status: 400, Unread: true}, ShapeUnread, 400, "invalid_request", "", ""},
		{"gateway 502", Upstream{Status: 502, Gateway: true}, ShapeGateway, 502, "server_error", "", ""},
		{"instance not a URI dropped", Upstream{Status: 400, Body: []byte(`{"title":"x","instance":5}`)}, ShapeProblem, 400, "invalid_request", "x", ""},
		{"invalid UTF-8 and NUL", Upstream{Status: 400, Body: []byte("bad \xff code\x00")}, ShapeText, 400, "invalid_request", "bad \uFFFD code", ""},
		{"HTML after a comment", Upstream{Status: 400, ContentType: "application/octet-stream", Body: []byte("<!-- IIS --><html><body>x</body></html>")}, ShapeHTML, 400, "invalid_request", "", ""},
		{"XML prolog", Upstream{Status: 400, ContentType: "application/xhtml+xml", Body: []byte(`<?xml version="1.0"?><!DOCTYPE html><html></html>`)}, ShapeHTML, 400, "invalid_request", "", ""},
		{"bare title tag", Upstream{Status: 400, Body: []byte("<title>Error</title><h1>Server Error in /</h1>")}, ShapeHTML, 400, "invalid_request", "", ""},
		{"HTML inside a JSON member", Upstream{Status: 400, Body: []byte(`{"detail":"<html><body>x</body></html>"}`)}, ShapeJSON, 400, "invalid_request", "", ""},
		{"5xx code of the upstream's own hidden", Upstream{Status: 500, Body: []byte(`{"error":"db_down_at_10.0.0.5"}`)}, ShapeOAuth, 500, "server_error", "", ""},
		{"5xx type and title hidden", Upstream{Status: 500, ContentType: "application/json", Body: []byte(`{"error":"server_error","type":"https://x/y","title":"NullReferenceException at Foo.Bar() line 42","detail":"stack"}`)}, ShapeOAuth, 500, "server_error", "", ""},
		{"sentence in error is text", Upstream{Status: 400, Body: []byte(`{"error":"Invalid Code"}`)}, ShapeOAuth, 400, "invalid_grant", "Invalid Code", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pr := testPolicy().Normalize(tt.u, Client{})
			body := pr.AppendJSON(nil)
			m := CheckProblem(t, tt.status, body)
			if pr.Shape != tt.shape {
				t.Errorf("shape %v, want %v", pr.Shape, tt.shape)
			}
			if m["error"] != tt.code {
				t.Errorf("error %v, want %s", m["error"], tt.code)
			}
			if d, _ := m["detail"].(string); d != tt.detail {
				t.Errorf("detail %q, want %q", d, tt.detail)
			}
			if tt.extra != "" && m[tt.extra] == nil {
				t.Errorf("member %s not kept: %s", tt.extra, body)
			}
			if bytes.Contains(body, []byte("<")) || bytes.Contains(body, []byte("Foo.Bar")) ||
				bytes.Contains(body, []byte("stackTrace")) || bytes.Contains(body, []byte("10.0.0.5")) {
				t.Errorf("upstream HTML or server text leaked: %s", body)
			}
		})
	}
}

func TestNormalizeMappings(t *testing.T) {
	p := testPolicy()
	p.Mappings = []Mapping{
		{Match: "Invalid Code", Error: "invalid_grant", Title: "Code refused", Detail: "The code is wrong, expired or used."},
		{Regexp: regexp.MustCompile(`^Scope .* unknown$`), Error: "invalid_scope", Type: "https://docs.example/scope"},
	}
	pr := p.Normalize(Upstream{Status: 400, Body: []byte("Invalid Code")}, Client{})
	if pr.Title != "Code refused" || pr.Detail != "The code is wrong, expired or used." || pr.Error != "invalid_grant" {
		t.Errorf("exact mapping: %+v", pr)
	}
	pr = p.Normalize(Upstream{Status: 400, Body: []byte("Scope admin unknown")}, Client{})
	if pr.Error != "invalid_scope" || pr.Type != "https://docs.example/scope" || pr.Detail != "Scope admin unknown" {
		t.Errorf("regexp mapping: %+v", pr)
	}
	// The operator's mapping beats an `error` the upstream sent.
	pr = p.Normalize(Upstream{Status: 400, Body: []byte(`{"error":"invalid_request","error_description":"Invalid Code"}`)}, Client{})
	if pr.Error != "invalid_grant" {
		t.Errorf("mapping did not win over upstream error: %+v", pr)
	}
}

func TestNormalizeStatus(t *testing.T) {
	u := Upstream{Status: 400, Body: []byte("Invalid client_secret")}
	keep := testPolicy()
	keep.KeepStatus = true
	for _, tt := range []struct {
		p     *Policy
		basic bool
		want  int
	}{
		{testPolicy(), false, 400},
		{testPolicy(), true, 401},
		{keep, true, 400},
	} {
		if got := tt.p.Normalize(u, Client{BasicAuth: tt.basic}).Status; got != tt.want {
			t.Errorf("keep %v basic %v: status %d, want %d", tt.p.KeepStatus, tt.basic, got, tt.want)
		}
	}
	expose := testPolicy()
	expose.ExposeServerErrors = true
	if pr := expose.Normalize(Upstream{Status: 500, Body: []byte("db down")}, Client{}); pr.Detail != "db down" {
		t.Errorf("expose_server_errors: detail %q", pr.Detail)
	}
}

func TestNormalizeTraceID(t *testing.T) {
	const parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	pr := testPolicy().Normalize(Upstream{Status: 400}, Client{TraceParent: parent})
	if !strings.HasPrefix(pr.TraceID, parent[:36]) || !strings.HasSuffix(pr.TraceID, "-01") || pr.TraceID == parent {
		t.Errorf("traceId %q does not continue the request's trace %q", pr.TraceID, parent)
	}
	a := testPolicy().Normalize(Upstream{Status: 400}, Client{TraceParent: "garbage"}).TraceID
	b := testPolicy().Normalize(Upstream{Status: 400}, Client{}).TraceID
	if !validTraceID(a) || !validTraceID(b) || a == b {
		t.Errorf("new trace ids %q %q", a, b)
	}
}

func TestOAuthText(t *testing.T) {
	for in, want := range map[string]string{
		"Invalid Code":           "Invalid Code",
		`say "hi" \ bye`:         "say 'hi' / bye",
		"line1\r\nline2\t end  ": "line1 line2 end",
		"caf\u00e9":              "caf?",
		"  lead":                 "lead",
		strings.Repeat("a", 300): strings.Repeat("a", maxDescription),
	} {
		if got := oauthText(in, maxDescription); got != want {
			t.Errorf("oauthText(%q) = %q, want %q", in, got, want)
		}
	}
}

// An answer of this module passes a second instance unchanged.
func TestNormalizeIdempotent(t *testing.T) {
	inputs := []Upstream{
		documented(t, "1-missing-client-id.http"),
		documented(t, "2-invalid-code.http"),
		documented(t, "3-unknown-client-id.http"),
		{Status: 404, ContentType: "text/html", Body: []byte("<html></html>")},
		{Status: 502, Gateway: true},
		{Status: 400, Body: []byte(`{"detail":"a \"quoted\" é","errors":{"a":[1]}}`)},
	}
	for _, basic := range []bool{false, true} {
		for _, u := range inputs {
			c := Client{BasicAuth: basic}
			first := testPolicy().Normalize(u, c)
			once := first.AppendJSON(nil)
			second := testPolicy().Normalize(Upstream{Status: first.Status, ContentType: mediaProblem, Body: once}, c)
			if twice := second.AppendJSON(nil); !bytes.Equal(once, twice) || second.Status != first.Status {
				t.Errorf("second pass changed the answer:\n%s\n%s", once, twice)
			}
		}
	}
}

// A bare 404 or 405 says what it is, not "malformed request".
func TestNormalizeBareStatusDescription(t *testing.T) {
	for status, want := range map[int]string{
		404: "Not Found",
		405: "Method Not Allowed",
		400: descriptions["invalid_request"],
		401: descriptions["invalid_client"],
		503: descriptions["temporarily_unavailable"],
	} {
		if got := testPolicy().Normalize(Upstream{Status: status}, Client{}).ErrorDescription; got != want {
			t.Errorf("%d: error_description %q, want %q", status, got, want)
		}
	}
}

// Only a web page may be an error_uri; a script URI is dropped.
func TestNormalizeErrorURI(t *testing.T) {
	for uri, keep := range map[string]bool{
		"https://as.example/errors/1": true,
		"javascript:alert(1)":         false,
		"/relative":                   false,
	} {
		body := []byte(`{"error":"invalid_scope","error_uri":"` + uri + `"}`)
		if got := testPolicy().Normalize(Upstream{Status: 400, Body: body}, Client{}).ErrorURI; (got == uri) != keep {
			t.Errorf("error_uri %q: got %q", uri, got)
		}
	}
}

// W3C Trace Context forbids version ff and all-zero ids.
func TestTraceParentValidity(t *testing.T) {
	for id, valid := range map[string]bool{
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01": true,
		"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01": false,
		"00-00000000000000000000000000000000-00f067aa0ba902b7-01": false,
		"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01": false,
		"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01": false,
	} {
		if validTraceID(id) != valid {
			t.Errorf("validTraceID(%q) = %v", id, !valid)
		}
	}
}
