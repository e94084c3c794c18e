package tokenerrors

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// malformedBodies are upstream error bodies no upstream should send.
// Each must still give one well-formed problem.
var malformedBodies = []struct {
	name, contentType, body string
}{
	{"invalid UTF-8", "text/plain", "Invalid \xff\xfe Code \xc3"},
	{"NUL bytes", "text/plain", "\x00Invalid\x00Code\x00"},
	{"BOM before JSON", "application/json", "\xef\xbb\xbf{\"error\":\"invalid_scope\"}"},
	{"BOM alone", "text/plain", "\xef\xbb\xbf"},
	{"CR and LF", "text/plain", "Invalid Code\r\nX-Injected: yes\r\n\r\n"},
	{"JSON truncated", "application/json", `{"error":"invalid_grant","error_description":"tr`},
	{"JSON truncated in a string escape", "application/json", `{"detail":"a\u00`},
	{"arrays 100,000 deep", "application/json", strings.Repeat("[", 100000) + strings.Repeat("]", 100000)},
	{"objects 100,000 deep", "application/json", strings.Repeat(`{"a":`, 100000) + "1" + strings.Repeat("}", 100000)},
	{"extension 9,000 deep", "application/json", `{"x":` + strings.Repeat("[", 9000) + strings.Repeat("]", 9000) + "}"},
	{"top-level array", "application/json", `[{"error":"invalid_grant"}]`},
	{"top-level string", "application/json", `"Invalid Code"`},
	{"top-level string with escapes", "application/json", `"a\"b\\c\u0000\n"`},
	{"top-level null", "application/json", `null`},
	{"duplicate keys", "application/json", `{"error":"invalid_grant","error":"invalid_scope","detail":"a","detail":"b","x":1,"x":2}`},
	{"duplicate reserved members", "application/json", `{"status":1,"status":2,"traceId":"a","traceId":"b","type":"x","type":"y"}`},
	{"status as a string", "application/problem+json", `{"type":"about:blank","title":"Bad","status":"400","detail":"d"}`},
	{"status disagreeing", "application/problem+json", `{"title":"Bad","status":201,"detail":"d"}`},
	{"status out of range", "application/problem+json", `{"title":"Bad","status":1e400}`},
	{"type not a URI reference", "application/problem+json", `{"type":"not a uri <>\"","title":"T","error":"invalid_scope"}`},
	{"type empty", "application/problem+json", `{"type":"","title":"T","error":"invalid_scope"}`},
	{"members of the wrong types", "application/json", `{"type":1,"title":[],"detail":{},"error":null,"error_description":2,"error_uri":"javascript alert","traceId":false,"instance":"a b"}`},
	{"error with quotes and backslashes", "application/json", `{"error":"in\"valid\\code"}`},
	{"error too long", "application/json", `{"error":"` + strings.Repeat("e", 65) + `"}`},
	{"control characters and separators", "text/plain", "a\x01b\x1bc\x7fd\u2028e\u2029"},
	{"escaped NUL", "application/json", `{"detail":"a\u0000b","error":"invalid_grant"}`},
	{"lone surrogate", "application/json", `{"detail":"\ud800 x"}`},
	{"invalid UTF-8 in an extension", "application/json", "{\"x\":\"\xff\",\"title\":\"t\"}"},
	{"empty key", "application/json", `{"":1,"title":"t"}`},
	{"status fallback padded", "text/plain", "Status Code: 404; Not Found                        "},
	{"status fallback with a break", "text/plain", "Status Code: 404; Not\r\nFound"},
	{"HTML labelled JSON", "application/json", "<!DOCTYPE html><p>x</p>"},
	{"content type malformed", "application/json; charset=\"", `{"detail":"d"}`},
}

// checkAnswer fails t unless body is one problem for wire status
// status, with no member twice, and returns its members.
func checkAnswer(t *testing.T, status int, body []byte) map[string]any {
	t.Helper()
	if !json.Valid(body) || len(body) == 0 || body[0] != '{' {
		t.Fatalf("not one JSON object: %q", body)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	_, _ = dec.Token()
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatalf("reading members: %v: %q", err, body)
		}
		name := tok.(string)
		if seen[name] {
			t.Errorf("member %q twice: %q", name, body)
		}
		seen[name] = true
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("reading member %q: %v", name, err)
		}
	}
	return CheckProblem(t, status, body)
}

// Malformed upstream bodies, at the statuses that change the answer:
// each gives one problem with the wire status, and none of them puts
// the upstream's own status, type or invalid code in the answer.
func TestNormalizeMalformed(t *testing.T) {
	for _, tc := range malformedBodies {
		for _, status := range []int{400, 401, 404, 500, 503} {
			for _, basic := range []bool{false, true} {
				u := Upstream{Status: status, ContentType: tc.contentType, Body: []byte(tc.body)}
				pr := testPolicy().Normalize(u, Client{BasicAuth: basic})
				body := pr.AppendJSON(nil)
				m := checkAnswer(t, pr.Status, body)
				if pr.Status != status && !(status == 401 || pr.Error == "invalid_client") {
					t.Errorf("%s at %d: answered %d", tc.name, status, pr.Status)
				}
				if typ, _ := m["type"].(string); !validURIReference(typ) {
					t.Errorf("%s: type %q", tc.name, typ)
				}
				if t.Failed() {
					t.Fatalf("%s at %d (basic %v): %q", tc.name, status, basic, body[:min(len(body), 400)])
				}
			}
		}
	}
}

// The answers to particular malformed bodies.
func TestNormalizeMalformedAnswers(t *testing.T) {
	answer := func(status int, contentType, body string) map[string]any {
		t.Helper()
		pr := testPolicy().Normalize(Upstream{Status: status, ContentType: contentType, Body: []byte(body)}, Client{})
		return checkAnswer(t, pr.Status, pr.AppendJSON(nil))
	}
	if m := answer(400, "application/json", `{"error":"invalid_grant","error":"invalid_scope","detail":"a","detail":"b"}`); m["error"] != "invalid_scope" || m["detail"] != "b" {
		t.Errorf("duplicate keys: the last should count, as in encoding/json: %v", m)
	}
	if m := answer(400, "application/problem+json", `{"title":"Bad","status":201,"detail":"d"}`); m["status"] != json.Number("400") {
		t.Errorf("status member from the upstream kept: %v", m)
	}
	if m := answer(400, "application/problem+json", `{"type":"not a uri <>","title":"T","error":"invalid_scope"}`); m["type"] != "https://errors.example/#invalid_scope" {
		t.Errorf("a type that is not a URI reference kept: %v", m)
	}
	if m := answer(400, "text/plain", "\x00Invalid\x00Code\x00"); m["detail"] != "InvalidCode" {
		t.Errorf("NUL bytes: %v", m)
	}
	if m := answer(400, "text/plain", "Invalid Code\r\nX-Injected: yes"); m["error_description"] != "Invalid Code X-Injected: yes" {
		t.Errorf("CR and LF in error_description: %v", m)
	}
	if m := answer(404, "text/plain", "Status Code: 404; Not Found                        "); m["detail"] != nil {
		t.Errorf("padded ASP.NET Core status text: %v", m)
	}
}

func TestNegotiate(t *testing.T) {
	long := strings.Repeat("application/x-other;q=0.5, ", 8<<10/27)
	for accept, want := range map[string]string{
		"":                                 mediaProblem,
		"*/*":                              mediaProblem,
		"text/html":                        mediaProblem,
		"text/html, application/xhtml+xml": mediaProblem,
		"application/json":                 mediaJSON,
		"APPLICATION/JSON":                 mediaJSON,
		"application/json;q=0":             mediaProblem,
		"application/json;q=0.0001":        mediaProblem, // rounds to 0
		"application/json;q=0.001":         mediaJSON,
		"application/json;q=2":             mediaJSON, // malformed q counts as 1
		"application/json;q=abc":           mediaJSON,
		"application/json; Q=0.5":          mediaJSON,
		"application/problem+json":         mediaProblem,
		"application/*":                    mediaProblem,
		"application/*+json":               mediaProblem,
		"application/*+json, application/json;q=0.9":             mediaJSON,
		"application/*;q=0.5, application/json":                  mediaJSON,
		"*/*;q=0.1, application/json":                            mediaJSON,
		"application/json, */*;q=0.1":                            mediaJSON,
		"application/json, application/problem+json":             mediaProblem,
		"application/problem+json;q=0.5, application/json":       mediaJSON,
		"application/problem+json, application/json;q=0.999":     mediaProblem,
		"application/json;q=0.5, application/problem+json;q=0.5": mediaProblem,
		"application/json;q=0.8, application/*;q=0.8":            mediaJSON,
		"text/html;q=1, application/json;q=0.1":                  mediaJSON,
		",,, ;;; ,":                                              mediaProblem,
		"application/json;;;q=;":                                 mediaJSON,
		long:                                                     mediaProblem,
		long + "application/json":                                mediaJSON,
	} {
		got := negotiate(accept)
		if got != want {
			t.Errorf("negotiate(%.60q) = %s, want %s", accept, got, want)
		}
		if again := negotiate(accept); again != got {
			t.Errorf("negotiate(%.60q) not deterministic: %s then %s", accept, got, again)
		}
	}
}

// A lower q for application/json loses to a range that covers
// application/problem+json at a higher q (RFC 9110 section 12.5.1:
// the most specific range gives each type its q).
func TestNegotiateLowerQ(t *testing.T) {
	for _, accept := range []string{
		"application/*, application/json;q=0.5",
		"application/json;q=0.8, */*",
	} {
		if got := negotiate(accept); got != mediaProblem {
			t.Errorf("negotiate(%q) = %s, want %s", accept, got, mediaProblem)
		}
	}
}

// addDocumented seeds f with the five documented responses.
func addDocumented(f *testing.F, add func(u Upstream)) {
	f.Helper()
	files, err := filepath.Glob(filepath.Join("internal", "standin", "responses", "*.http"))
	if err != nil || len(files) != 5 {
		f.Fatalf("documented responses: %v %v", files, err)
	}
	for _, file := range files {
		add(documented(f, filepath.Base(file)))
	}
}

// fuzzStatus maps any int to an error status, 400 to 599.
func fuzzStatus(n int) int {
	if n < 0 {
		n = -(n + 1)
	}
	return 400 + n%200
}

// FuzzNormalize feeds any body, labels and status through decoding,
// normalising, writing and negotiation.
func FuzzNormalize(f *testing.F) {
	addDocumented(f, func(u Upstream) { f.Add(u.Body, u.ContentType, "", u.Status, "") })
	for _, tc := range malformedBodies {
		// The deep bodies stay in TestNormalizeMalformed: as seeds
		// they make every mutation and minimisation slow.
		if len(tc.body) > 4096 {
			continue
		}
		f.Add([]byte(tc.body), tc.contentType, "", 400, "application/json")
		f.Add([]byte(tc.body), tc.contentType, "identity", 500, "*/*")
	}
	for _, enc := range []string{"gzip", "deflate", "br", "zstd", "gzip, br", "x-gzip", "compress", ",", " , identity ,"} {
		f.Add([]byte("Invalid Code"), "text/plain", enc, 401, "text/html")
	}
	f.Add([]byte("\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"), "text/plain", "gzip", 400, "")

	p := testPolicy()
	f.Fuzz(func(t *testing.T, body []byte, contentType, contentEncoding string, status int, accept string) {
		st := fuzzStatus(status)
		u := Upstream{Status: st, ContentType: contentType}
		// As the handler does: a body held past the limit is not
		// decoded at all.
		decoded, err := decodeBody(body, contentEncoding, 4096)
		if len(body) > 4096 || err != nil {
			u.Unread = true
		} else {
			if len(decoded) > 4096 {
				t.Fatalf("decodeBody gave %d bytes past its limit", len(decoded))
			}
			u.Body = decoded
		}
		pr := p.Normalize(u, Client{BasicAuth: status < 0, TraceParent: accept})
		if pr.Status != st && !(pr.Error == "invalid_client" && (pr.Status == 400 || pr.Status == 401)) {
			t.Errorf("status %d for upstream %d, error %q", pr.Status, st, pr.Error)
		}
		out := pr.AppendJSON(nil)
		checkAnswer(t, pr.Status, out)
		if u.Status >= 500 && pr.Detail != "" {
			t.Errorf("5xx text exposed: %q", out)
		}
		if mt := negotiate(accept); mt != mediaProblem && mt != mediaJSON {
			t.Errorf("negotiate(%q) = %q", accept, mt)
		}
	})
}

// FuzzHandler drives Handler.ServeHTTP with a next handler that writes
// any status, headers and body, or returns an error.
func FuzzHandler(f *testing.F) {
	addDocumented(f, func(u Upstream) { f.Add(u.Body, u.ContentType, "", u.Status, "", uint8(0)) })
	for _, tc := range malformedBodies {
		if len(tc.body) > 4096 {
			continue
		}
		f.Add([]byte(tc.body), tc.contentType, "", 400, "application/json", uint8(1))
	}
	f.Add([]byte(`{"access_token":"a"}`), "application/json", "", 200, "", uint8(0))
	f.Add([]byte("x"), "text/plain", "gzip", 304, "", uint8(0))
	f.Add(bytes.Repeat([]byte("x"), 3000), "text/plain", "", 413, "", uint8(1))
	f.Add([]byte{}, "", "", 502, "", uint8(2))
	f.Add([]byte("Invalid Code"), "text/plain", "", 400, "", uint8(3))

	f.Fuzz(func(t *testing.T, body []byte, contentType, contentEncoding string, status int, accept string, mode uint8) {
		if status < 0 {
			status = -(status + 1)
		}
		status = 200 + status%400 // 200 to 599
		h := &Handler{MaxBody: 1024, CompleteTokenResponse: mode&4 != 0}
		h.logger = zap.NewNop()
		if err := h.provision(); err != nil {
			t.Fatal(err)
		}
		next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) error {
			if mode%4 == 2 {
				return caddyhttp.Error(status, errors.New("upstream down"))
			}
			hdr := w.Header()
			if contentType != "" {
				hdr["Content-Type"] = []string{contentType}
			}
			if contentEncoding != "" {
				hdr["Content-Encoding"] = []string{contentEncoding}
			}
			hdr.Set("Content-Length", strconv.Itoa(len(body)))
			hdr.Set("Trailer", "X-Sum")
			w.WriteHeader(status)
			// Written in two pieces, split by the mode.
			cut := min(len(body), int(mode)*7)
			_, _ = w.Write(body[:cut])
			_, _ = w.Write(body[cut:])
			if mode%4 == 3 && isError(status) {
				panic(http.ErrAbortHandler)
			}
			return nil
		})
		rec := httptest.NewRecorder()
		r := httptest.NewRequest(http.MethodPost, "http://gateway.example/token", nil)
		if accept != "" {
			r.Header.Set("Accept", accept)
		}
		r = caddyhttp.PrepareRequest(r, caddy.NewReplacer(), rec, nil)
		if err := h.ServeHTTP(rec, r, next); err != nil {
			if herr, ok := errors.AsType[caddyhttp.HandlerError](err); !ok || isError(herr.StatusCode) {
				t.Fatalf("error returned for status %d: %v", status, err)
			}
			return
		}
		res := rec.Result()
		got := rec.Body.Bytes()
		if !isError(status) {
			if res.StatusCode != status {
				t.Fatalf("status %d passed as %d", status, res.StatusCode)
			}
			if !h.CompleteTokenResponse && !bytes.Equal(got, body) {
				t.Fatalf("status %d body changed: %q to %q", status, body, got)
			}
			return
		}
		checkAnswer(t, res.StatusCode, got)
		if cl := res.Header.Get("Content-Length"); cl != strconv.Itoa(len(got)) {
			t.Errorf("Content-Length %q for %d bytes", cl, len(got))
		}
		if ce := res.Header.Values("Content-Encoding"); len(ce) != 0 {
			t.Errorf("Content-Encoding %q left on a problem", ce)
		}
		if tr := res.Header.Values("Trailer"); len(tr) != 0 {
			t.Errorf("Trailer %q left on a problem", tr)
		}
		if ct := res.Header.Get("Content-Type"); ct != negotiate(accept) {
			t.Errorf("Content-Type %q for Accept %q", ct, accept)
		}
		if (mode%4 == 3 || mode%4 == 2 && status >= 500) && res.StatusCode < 500 {
			t.Errorf("an upstream failure answered %d", res.StatusCode)
		}
	})
}

// An upstream text made only of control characters once left detail
// set and error_description empty, though every answer must carry
// one. Found by FuzzNormalize with the body "\x18".
func TestNormalizeControlOnlyText(t *testing.T) {
	for _, body := range []string{"\x18", "\x01\x02", "{\"detail\":\"\\u0007\"}"} {
		pr := testPolicy().Normalize(Upstream{Status: 400, ContentType: "text/plain", Body: []byte(body)}, Client{})
		checkAnswer(t, pr.Status, pr.AppendJSON(nil))
	}
}
