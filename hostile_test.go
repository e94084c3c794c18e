package tokenerrors_test

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/textproto"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/zstd"

	"github.com/caddyserver/caddy/v2/caddytest"

	"github.com/airisk-gateway/tokenerrors"
	_ "github.com/airisk-gateway/tokenerrors/internal/standin"
)

// The hostile gateway: token_errors in front of an upstream written
// by the test, in several configurations, and in front of the
// stand-in for ordinary traffic. Its log goes to a file at debug
// level so that tests can read the module's warnings.
const hostileConfig = `
{
	admin localhost:2999
	http_port 9084
	https_port 9443
	grace_period 1ns
	skip_install_trust
	log {
		output file %q
		level DEBUG
	}
}

http://127.0.0.1:9084 {
	bind 127.0.0.1
	token_errors {
		max_body 1KiB
	}
	reverse_proxy %[2]s
}

http://127.0.0.1:9085 {
	bind 127.0.0.1
	token_errors
	reverse_proxy %[2]s
}

http://127.0.0.1:9086 {
	bind 127.0.0.1
	token_errors {
		expose_server_errors
	}
	reverse_proxy %[2]s
}

http://127.0.0.1:9087 {
	bind 127.0.0.1
	token_errors {
		complete_token_response
	}
	reverse_proxy 127.0.0.1:9089
}

http://127.0.0.1:9088 {
	bind 127.0.0.1
	token_errors
	reverse_proxy 127.0.0.1:9099
}

http://127.0.0.1:9089 {
	bind 127.0.0.1
	airisk_standin
}
`

const (
	smallSite   = "http://127.0.0.1:9084" // max_body 1KiB
	defaultSite = "http://127.0.0.1:9085" // max_body 64KiB, the default
	exposeSite  = "http://127.0.0.1:9086" // expose_server_errors
	standinGW   = "http://127.0.0.1:9087" // in front of the stand-in
	deadSite    = "http://127.0.0.1:9088" // nothing listens upstream
	standinSite = "http://127.0.0.1:9089" // the stand-in itself

	smallMax   = 1 << 10
	defaultMax = 64 << 10
)

// hostile is a running gateway in front of an upstream the test
// programs route by route.
type hostile struct {
	up      *httptest.Server
	mux     *http.ServeMux
	logPath string
	client  *http.Client
}

// startHostile starts the upstream on a loopback port and loads the
// hostile gateway in front of it.
func startHostile(t *testing.T) *hostile {
	t.Helper()
	h := &hostile{mux: http.NewServeMux(), logPath: filepath.Join(t.TempDir(), "caddy.log")}
	up := httptest.NewServer(h.mux)
	t.Cleanup(up.Close)
	h.up = up

	started := false
	t.Cleanup(func() {
		if t.Skipped() && !started && !testing.Short() {
			t.Error("the gateway did not start")
		}
	})
	tester := caddytest.NewTester(t)
	tester.InitServer(fmt.Sprintf(hostileConfig, h.logPath, up.Listener.Addr().String()), "caddyfile")
	started = true

	// A client of its own: no transparent decompression, no timeout
	// of caddytest's, every connection closed at the end.
	tr := &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 64}
	t.Cleanup(tr.CloseIdleConnections)
	h.client = &http.Client{
		Transport:     tr,
		Timeout:       30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return h
}

// route programs the upstream's answer for path.
func (h *hostile) route(path string, fn http.HandlerFunc) { h.mux.HandleFunc(path, fn) }

// fixed is an upstream answer of one status, headers and body.
func fixed(status int, body []byte, header ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Add(header[i], header[i+1])
		}
		w.WriteHeader(status)
		_, _ = w.Write(body)
	}
}

// get asks site for path and returns the response, its body and the
// error reading it.
func (h *hostile) get(t *testing.T, site, path string, header ...string) (*http.Response, []byte, error) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, site+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Asked for, encoded bodies pass Caddy's transport undecoded:
	// the module must decode them.
	req.Header.Set("Accept-Encoding", "gzip, deflate, br, zstd")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := h.client.Do(req)
	if err != nil {
		t.Fatalf("%s%s: %v", site, path, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	return res, body, err
}

// problem asks site for path and checks that the answer is a whole,
// well-formed problem with the given status.
func (h *hostile) problem(t *testing.T, site, path string, status int, header ...string) (map[string]any, *http.Response, []byte) {
	t.Helper()
	res, body, err := h.get(t, site, path, header...)
	if err != nil {
		t.Fatalf("%s%s: reading the answer: %v (got %q)", site, path, err, body)
	}
	if res.StatusCode != status {
		t.Errorf("%s%s: status %d, want %d: %s", site, path, res.StatusCode, status, body)
	}
	checkProblemHeaders(t, res, body)
	return tokenerrors.CheckProblem(t, res.StatusCode, body), res, body
}

// checkProblemHeaders checks what every answer's headers must say.
func checkProblemHeaders(t *testing.T, res *http.Response, body []byte) {
	t.Helper()
	h := res.Header
	if ct := h.Get("Content-Type"); ct != "application/problem+json" && ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	if h.Get("Content-Length") != strconv.Itoa(len(body)) {
		t.Errorf("Content-Length %q for %d bytes", h.Get("Content-Length"), len(body))
	}
	if h.Get("Content-Encoding") != "" {
		t.Errorf("Content-Encoding %q left on a problem", h.Get("Content-Encoding"))
	}
}

// logLine is one line of Caddy's JSON log.
type logLine struct {
	Level          string `json:"level"`
	Logger         string `json:"logger"`
	Msg            string `json:"msg"`
	UpstreamStatus int    `json:"upstream_status"`
	MaxBody        int    `json:"max_body"`
}

// warnings returns the module's warnings logged so far.
func (h *hostile) warnings(t *testing.T) []logLine {
	t.Helper()
	raw, err := os.ReadFile(h.logPath)
	if err != nil {
		t.Fatalf("reading Caddy's log: %v", err)
	}
	var out []logLine
	for line := range bytes.SplitSeq(raw, []byte("\n")) {
		var l logLine
		if json.Unmarshal(line, &l) != nil {
			continue
		}
		if l.Level == "warn" && strings.HasPrefix(l.Logger, "http.handlers.token_errors") {
			out = append(out, l)
		}
	}
	return out
}

// Error bodies over max_body are answered without their text, with
// one warning per response naming the upstream status and the limit;
// a body of exactly max_body is still read.
func TestHostileOverMaxBody(t *testing.T) {
	h := startHostile(t)
	text := func(n int) []byte { return bytes.Repeat([]byte("x"), n) }
	h.route("/small/at", fixed(400, text(smallMax), "Content-Type", "text/plain"))
	h.route("/small/over", fixed(400, text(smallMax+1), "Content-Type", "text/plain"))
	h.route("/small/over-json", fixed(401, append([]byte(`{"error":"invalid_scope","detail":"`), append(text(2*smallMax), `"}`...)...), "Content-Type", "application/json"))
	h.route("/small/over-5xx", func(w http.ResponseWriter, _ *http.Request) {
		// Many small writes, flushed, well past the limit.
		w.WriteHeader(503)
		for range 64 {
			_, _ = w.Write(text(100))
			http.NewResponseController(w).Flush()
		}
	})
	h.route("/default/at", fixed(422, text(defaultMax), "Content-Type", "text/plain"))
	h.route("/default/over", fixed(422, text(4*defaultMax+1), "Content-Type", "text/plain"))

	m, _, _ := h.problem(t, smallSite, "/small/at", 400)
	if d, _ := m["detail"].(string); len(d) != smallMax {
		t.Errorf("body of exactly max_body: detail of %d bytes, want %d", len(d), smallMax)
	}
	if len(h.warnings(t)) != 0 {
		t.Errorf("a body at the limit was warned about: %+v", h.warnings(t))
	}
	want := []logLine{}
	for _, tc := range []struct {
		site, path   string
		status, code int
		error        string
		max          int
	}{
		{smallSite, "/small/over", 400, 400, "invalid_request", smallMax},
		{smallSite, "/small/over-json", 401, 400, "invalid_client", smallMax},
		{smallSite, "/small/over-5xx", 503, 503, "temporarily_unavailable", smallMax},
		{defaultSite, "/default/over", 422, 422, "invalid_request", defaultMax},
	} {
		m, _, body := h.problem(t, tc.site, tc.path, tc.code)
		if _, ok := m["detail"]; ok || m["error"] != tc.error || bytes.Contains(body, []byte("xxx")) {
			t.Errorf("%s: over max_body, got %s", tc.path, body)
		}
		want = append(want, logLine{UpstreamStatus: tc.status, MaxBody: tc.max})
	}
	got := h.warnings(t)
	if len(got) != len(want) {
		t.Fatalf("%d warnings for %d oversized responses: %+v", len(got), len(want), got)
	}
	for i := range want {
		if got[i].UpstreamStatus != want[i].UpstreamStatus || got[i].MaxBody != want[i].MaxBody ||
			!strings.Contains(got[i].Msg, "max_body") {
			t.Errorf("warning %d: %+v, want upstream_status %d and max_body %d",
				i, got[i], want[i].UpstreamStatus, want[i].MaxBody)
		}
	}
}

func gzipped(t testing.TB, p []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	_, _ = zw.Write(p)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func deflated(t testing.TB, p []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := zlib.NewWriter(&b)
	_, _ = zw.Write(p)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func brotlied(t testing.TB, p []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	bw := brotli.NewWriter(&b)
	_, _ = bw.Write(p)
	if err := bw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func zstded(t testing.TB, p []byte) []byte {
	t.Helper()
	zw, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer zw.Close()
	return zw.EncodeAll(p, nil)
}

// gzipBomb is n MiB of zeros as gzip: one member of a MiB, repeated,
// which a gzip reader reads as one stream.
func gzipBomb(t testing.TB, n int) []byte {
	t.Helper()
	return bytes.Repeat(gzipped(t, make([]byte, 1<<20)), n)
}

// zstdBomb is n MiB of zeros as zstd: one frame of a MiB, repeated.
func zstdBomb(t testing.TB, n int) []byte {
	t.Helper()
	return bytes.Repeat(zstded(t, make([]byte, 1<<20)), n)
}

// brBomb is n MiB of zeros as brotli, written a MiB at a time.
func brBomb(t testing.TB, n int) []byte {
	t.Helper()
	var b bytes.Buffer
	bw := brotli.NewWriterLevel(&b, brotli.BestSpeed)
	zeros := make([]byte, 1<<20)
	for range n {
		_, _ = bw.Write(zeros)
	}
	if err := bw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// Compressed error bodies are decoded into detail; a decompression
// bomb is answered without detail, quickly and without allocating its
// decoded size; an unknown encoding is answered without detail.
func TestHostileCompressed(t *testing.T) {
	h := startHostile(t)
	plain := []byte("Invalid Code")
	for name, tc := range map[string]struct {
		enc  string
		body []byte
	}{
		"gzip":      {"gzip", gzipped(t, plain)},
		"deflate":   {"deflate", deflated(t, plain)},
		"br":        {"br", brotlied(t, plain)},
		"zstd":      {"zstd", zstded(t, plain)},
		"gzip-br":   {"gzip, br", brotlied(t, gzipped(t, plain))},
		"upper":     {"GZIP", gzipped(t, plain)},
		"identity":  {"identity", plain},
		"unknown":   {"compress", plain},
		"corrupt":   {"gzip", append(gzipped(t, plain)[:10], "garbage"...)},
		"bomb-over": {"gzip", gzipBomb(t, 100)}, // compressed, still past max_body
		"bomb":      {"gzip", gzipBomb(t, 50)},  // compressed, within max_body
		"zstd-bomb": {"zstd", zstdBomb(t, 100)},
		"br-bomb":   {"br", brBomb(t, 100)},
	} {
		h.route("/"+name, fixed(400, tc.body, "Content-Type", "text/plain", "Content-Encoding", tc.enc))
	}

	for _, name := range []string{"gzip", "deflate", "br", "zstd", "gzip-br", "upper", "identity"} {
		m, _, body := h.problem(t, defaultSite, "/"+name, 400)
		if m["detail"] != "Invalid Code" || m["error"] != "invalid_grant" {
			t.Errorf("%s: not decoded into detail: %s", name, body)
		}
	}
	for _, name := range []string{"unknown", "corrupt", "bomb-over", "bomb", "zstd-bomb", "br-bomb"} {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		start := time.Now()
		m, _, body := h.problem(t, defaultSite, "/"+name, 400)
		took := time.Since(start)
		runtime.ReadMemStats(&after)
		if _, ok := m["detail"]; ok || m["error"] != "invalid_request" {
			t.Errorf("%s: answered with the upstream's text: %s", name, body)
		}
		alloc := after.TotalAlloc - before.TotalAlloc
		t.Logf("%s: %v, %d KiB allocated in the process", name, took.Round(time.Millisecond), alloc>>10)
		if alloc > 16<<20 || took > 5*time.Second {
			t.Errorf("%s: %d bytes allocated and %v taken; the body was decoded past max_body", name, alloc, took)
		}
	}
	warned := 0
	for _, w := range h.warnings(t) {
		if w.UpstreamStatus == 400 && w.MaxBody == defaultMax {
			warned++
		}
	}
	if warned != 6 {
		t.Errorf("%d warnings for 6 bodies that could not be read, want one each: %+v", warned, h.warnings(t))
	}
}

// rawUpstream answers by writing bytes straight to the connection and
// closing it, with a reset instead of a FIN when reset is set.
func rawUpstream(head, body string, reset bool) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			panic(err)
		}
		_, _ = brw.WriteString(head + body)
		_ = brw.Flush()
		if reset {
			_ = conn.(*net.TCPConn).SetLinger(0)
		}
		_ = conn.Close()
	}
}

// An upstream that trickles, truncates or resets its error body: the
// client gets a whole problem (502 when the upstream broke), never a
// half-written one; a success already streaming ends in a broken
// connection instead.
func TestHostileBrokenUpstream(t *testing.T) {
	h := startHostile(t)
	h.route("/trickle", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(400)
		rc := http.NewResponseController(w)
		for _, c := range []byte("Invalid Code") {
			_, _ = w.Write([]byte{c})
			_ = rc.Flush()
			time.Sleep(5 * time.Millisecond)
		}
	})
	const errHead = "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 500\r\n\r\n"
	h.route("/truncated", rawUpstream(errHead, "Invalid Code", false))
	h.route("/reset", rawUpstream(errHead, "Invalid Code", true))
	h.route("/truncated-chunked", rawUpstream(
		"HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
		"20\r\n{\"error\":\"invalid_client\",\"er", false))
	h.route("/reset-before-headers", rawUpstream("HTTP/1.1 40", "", true))
	const okHead = "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: 100000\r\n\r\n"
	h.route("/success-truncated", rawUpstream(okHead, strings.Repeat("a", 5000), false))
	h.route("/success-reset", rawUpstream(okHead, strings.Repeat("a", 5000), true))

	start := time.Now()
	m, _, body := h.problem(t, defaultSite, "/trickle", 400)
	if m["detail"] != "Invalid Code" || m["error"] != "invalid_grant" {
		t.Errorf("trickled body: %s", body)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("trickled body took %v", took)
	}

	for _, path := range []string{"/truncated", "/reset", "/truncated-chunked", "/reset-before-headers"} {
		m, _, body := h.problem(t, defaultSite, path, 502)
		if _, ok := m["detail"]; ok || m["error"] != "server_error" || bytes.Contains(body, []byte("Invalid")) {
			t.Errorf("%s: %s", path, body)
		}
	}

	for _, path := range []string{"/success-truncated", "/success-reset"} {
		res, body, err := h.get(t, defaultSite, path)
		if err == nil {
			t.Errorf("%s: a broken success reached the client as complete: %d, %d bytes", path, res.StatusCode, len(body))
		}
		if res.StatusCode != 200 || bytes.Contains(body, []byte("traceId")) || strings.Trim(string(body), "a") != "" {
			t.Errorf("%s: %d %q", path, res.StatusCode, body[:min(len(body), 100)])
		}
	}
}

// hostileBodies are malformed upstream error bodies: each must come
// out as a well-formed problem with nothing of it in the headers.
var hostileBodies = []struct {
	name, contentType, body string
}{
	{"invalid UTF-8", "text/plain", "Invalid \xff\xfe Code \xc3"},
	{"NUL bytes", "text/plain", "Invalid\x00Code\x00"},
	{"BOM", "application/json", "\xef\xbb\xbf{\"error\":\"invalid_scope\"}"},
	{"CRLF header injection", "text/plain", "Invalid Code\r\nX-Injected: yes\r\nSet-Cookie: evil=1\r\n\r\n<script>"},
	{"CRLF in JSON", "application/json", `{"detail":"a\r\nX-Injected: yes\r\n","error":"x\r\nX-Injected: yes"}`},
	{"truncated JSON", "application/json", `{"error":"invalid_grant","error_description":"trunc`},
	{"deep arrays", "application/json", strings.Repeat("[", 100000) + strings.Repeat("]", 100000)},
	{"deep objects", "application/json", strings.Repeat(`{"a":`, 100000) + "1" + strings.Repeat("}", 100000)},
	{"deep extension", "application/json", `{"title":"t","x":` + strings.Repeat("[", 9000) + strings.Repeat("]", 9000) + "}"},
	{"top-level array", "application/json", `[{"error":"invalid_grant"}]`},
	{"top-level string", "application/json", `"Invalid Code"`},
	{"top-level number", "application/json", `400`},
	{"duplicate keys", "application/json", `{"error":"invalid_grant","error":"invalid_scope","detail":"a","detail":"b","x":1,"x":2}`},
	{"status as a string", "application/problem+json", `{"type":"about:blank","title":"Bad","status":"400","detail":"d"}`},
	{"status disagreeing", "application/problem+json", `{"title":"Bad","status":201,"detail":"d"}`},
	{"status huge", "application/problem+json", `{"title":"Bad","status":1e400}`},
	{"type not a URI", "application/problem+json", `{"type":"not a uri <>\"","title":"T","error":"invalid_scope"}`},
	{"reserved members of wrong types", "application/json", `{"type":1,"title":[],"detail":{},"error":null,"error_description":2,"error_uri":"javascript alert","traceId":false,"instance":"a b"}`},
	{"control characters", "text/plain", "a\x01b\x1bc\x7fd\u2028e\u2029"},
	{"escaped NUL in JSON", "application/json", `{"detail":"a\u0000b","error":"invalid_grant"}`},
	{"lone surrogate", "application/json", `{"detail":"\ud800 x"}`},
}

// Malformed bodies through the gateway: each answer is a problem with
// the wire status, and no header carries anything of the body.
func TestHostileMalformedBodies(t *testing.T) {
	h := startHostile(t)
	for i, tc := range hostileBodies {
		for _, status := range []int{400, 401, 500} {
			path := fmt.Sprintf("/malformed/%d/%d", i, status)
			h.route(path, fixed(status, []byte(tc.body), "Content-Type", tc.contentType))
			res, body, err := h.get(t, defaultSite, path)
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			// invalid_client is 400 without HTTP authentication; any
			// other code keeps the upstream's status.
			if res.StatusCode != status && !(status == 401 && res.StatusCode == 400) {
				t.Errorf("%s: upstream %d answered %d", tc.name, status, res.StatusCode)
			}
			checkProblemHeaders(t, res, body)
			tokenerrors.CheckProblem(t, res.StatusCode, body)
			for k, vs := range res.Header {
				for _, v := range vs {
					if strings.Contains(k+v, "Injected") || strings.Contains(k+v, "evil") || strings.ContainsAny(v, "\r\n") {
						t.Errorf("%s: header %s: %q carries the body", tc.name, k, v)
					}
				}
			}
			if bytes.Contains(body, []byte("<script")) {
				t.Errorf("%s: markup reached the client: %s", tc.name, body)
			}
		}
	}
}

// HTML never reaches the client; 5xx text only with
// expose_server_errors; ASP.NET Core's padded status text is a bare
// status.
func TestHostileServerText(t *testing.T) {
	h := startHostile(t)
	const trace = "System.NullReferenceException: Object reference not set\n   at AIRisk.Token.Issue() in C:\\src\\Token.cs:line 42"
	h.route("/html-400", fixed(400, []byte("<html><body><h1>Bad Request</h1></body></html>"), "Content-Type", "text/html"))
	h.route("/html-502", fixed(502, []byte("<!DOCTYPE html><html><title>502 Bad Gateway</title></html>"), "Content-Type", "text/plain"))
	h.route("/trace-500", fixed(500, []byte(trace), "Content-Type", "text/plain"))
	h.route("/json-500", fixed(500, []byte(`{"detail":"`+strings.ReplaceAll(strings.ReplaceAll(trace, `\`, `\\`), "\n", `\n`)+`","stackTrace":"at x"}`), "Content-Type", "application/json"))
	h.route("/fallback", fixed(404, []byte("Status Code: 404; Not Found"+strings.Repeat(" ", 40)), "Content-Type", "text/plain"))

	for _, site := range []string{defaultSite, exposeSite} {
		exposed := site == exposeSite
		for _, path := range []string{"/html-400", "/html-502"} {
			status := 400
			if path == "/html-502" {
				status = 502
			}
			m, _, body := h.problem(t, site, path, status)
			if _, ok := m["detail"]; ok || bytes.Contains(body, []byte("<")) || bytes.Contains(body, []byte("Bad Gateway")) {
				t.Errorf("%s%s: HTML reached the client: %s", site, path, body)
			}
		}
		for _, path := range []string{"/trace-500", "/json-500"} {
			m, _, body := h.problem(t, site, path, 500)
			leaked := bytes.Contains(body, []byte("NullReferenceException")) || bytes.Contains(body, []byte("stackTrace"))
			if leaked != exposed {
				t.Errorf("%s%s: server text exposed %v, want %v: %s", site, path, leaked, exposed, body)
			}
			if exposed && !strings.Contains(fmt.Sprint(m["detail"]), "Token.cs:line 42") {
				t.Errorf("%s%s: detail %q", site, path, m["detail"])
			}
		}
		m, _, body := h.problem(t, site, "/fallback", 404)
		if _, ok := m["detail"]; ok || m["error"] != "invalid_request" {
			t.Errorf("%s: ASP.NET Core status text not read as a bare status: %s", site, body)
		}
	}
}

// 103 Early Hints before an error reach the client; 204 and 304 pass
// untouched; trailers are kept.
func TestHostileUntouched(t *testing.T) {
	h := startHostile(t)
	h.route("/hints", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Link", "</style.css>; rel=preload; as=style")
		w.WriteHeader(http.StatusEarlyHints)
		w.Header().Del("Link")
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(400)
		_, _ = w.Write([]byte("Invalid Code"))
	})
	h.route("/204", fixed(204, nil, "X-Kept", "yes"))
	h.route("/304", fixed(304, nil, "ETag", `"v1"`, "X-Kept", "yes"))
	h.route("/trailer", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Trailer", "X-Checksum")
		w.Header().Set("Content-Type", "application/octet-stream")
		w.WriteHeader(200)
		_, _ = w.Write([]byte("first "))
		http.NewResponseController(w).Flush()
		_, _ = w.Write([]byte("second"))
		w.Header().Set("X-Checksum", "c0ffee")
	})

	var hints []textproto.MIMEHeader
	ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
		Got1xxResponse: func(code int, header textproto.MIMEHeader) error {
			if code == http.StatusEarlyHints {
				hints = append(hints, header)
			}
			return nil
		},
	})
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, defaultSite+"/hints", nil)
	res, err := h.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	m := tokenerrors.CheckProblem(t, res.StatusCode, body)
	if res.StatusCode != 400 || m["error"] != "invalid_grant" {
		t.Errorf("error after early hints: %d %s", res.StatusCode, body)
	}
	if len(hints) != 1 || hints[0].Get("Link") != "</style.css>; rel=preload; as=style" {
		t.Errorf("103 Early Hints did not reach the client: %v", hints)
	}

	for _, status := range []int{204, 304} {
		res, body, err := h.get(t, defaultSite, "/"+strconv.Itoa(status))
		if err != nil || res.StatusCode != status || len(body) != 0 || res.Header.Get("X-Kept") != "yes" ||
			res.Header.Get("Content-Type") != "" {
			t.Errorf("%d: %d %v %q %v", status, res.StatusCode, res.Header, body, err)
		}
		if status == 304 && res.Header.Get("ETag") != `"v1"` {
			t.Errorf("304: ETag lost: %v", res.Header)
		}
	}

	res, body, err = h.get(t, defaultSite, "/trailer")
	if err != nil || res.StatusCode != 200 || string(body) != "first second" || res.Trailer.Get("X-Checksum") != "c0ffee" {
		t.Errorf("trailer: %d %q trailer %v %v", res.StatusCode, body, res.Trailer, err)
	}
}

// heapObjects reads the bytes of live and not yet swept heap objects.
func heapObjects() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// A 100 MiB success streams: its first byte reaches the client while
// the upstream still waits, and the heap stays flat.
func TestHostileLargeSuccessStreams(t *testing.T) {
	h := startHostile(t)
	const size = 100 << 20
	const first = 32 << 10
	release := make(chan struct{})
	h.route("/large", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.WriteHeader(200)
		chunk := bytes.Repeat([]byte("t"), 1<<20)
		_, _ = w.Write(chunk[:first])
		http.NewResponseController(w).Flush()
		select {
		case <-release:
		case <-time.After(20 * time.Second):
			return
		}
		for sent := first; sent < size; sent += len(chunk) {
			if _, err := w.Write(chunk[:min(len(chunk), size-sent)]); err != nil {
				return
			}
		}
	})

	runtime.GC()
	base := heapObjects()
	var peak atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			if v := heapObjects(); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, defaultSite+"/large", nil)
	res, err := h.client.Do(req)
	if err != nil {
		close(release)
		t.Fatal(err)
	}
	defer res.Body.Close()
	one := make([]byte, 1)
	firstByte := make(chan error, 1)
	go func() { _, err := io.ReadFull(res.Body, one); firstByte <- err }()
	select {
	case err := <-firstByte:
		if err != nil {
			t.Fatalf("first byte: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the first byte did not reach the client before the upstream finished")
	}
	close(release)
	n, err := io.Copy(io.Discard, res.Body)
	close(stop)
	<-sampled
	if err != nil || n+1 != size || res.StatusCode != 200 {
		t.Fatalf("large success: %d, %d bytes, %v", res.StatusCode, n+1, err)
	}
	growth := int64(peak.Load()) - int64(base)
	t.Logf("100 MiB success: heap objects %d KiB before, peak %d KiB (growth %d KiB)", base>>10, peak.Load()>>10, growth>>10)
	if growth > 16<<20 {
		t.Errorf("heap grew by %d MiB while streaming 100 MiB", growth>>20)
	}
}

// inFlight holds n requests to path on site in flight, each at the
// point where the upstream has sent its first bytes and waits, and
// returns the heap in use then and a function that releases them.
func inFlight(t *testing.T, h *hostile, site, path string, n int, reached *atomic.Int32, release chan struct{}) (uint64, func()) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			// The same small buffer whatever the answer, so that the
			// client's side costs the same in every measurement.
			buf := make([]byte, 512)
			res, err := h.client.Get(site + path)
			if err != nil {
				errs <- err
				return
			}
			defer res.Body.Close()
			for err == nil {
				_, err = res.Body.Read(buf)
			}
			if err != io.EOF {
				errs <- err
			}
		})
	}
	deadline := time.Now().Add(30 * time.Second)
	for reached.Load() < int32(n) {
		if time.Now().After(deadline) {
			close(release)
			wg.Wait()
			t.Fatalf("%s: only %d of %d requests reached the upstream", path, reached.Load(), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Let the gateway take in what the upstream flushed.
	time.Sleep(500 * time.Millisecond)
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse, func() {
		close(release)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Errorf("%s: %v", path, err)
		}
	}
}

// Memory: N error responses held at exactly max_body cost less than
// N x (max_body + 16KiB) more than N slow successes of the same size;
// N error responses past max_body cost less than N x 16KiB more.
func TestHostileMemoryBounded(t *testing.T) {
	h := startHostile(t)
	const n = 200
	type route struct {
		reached atomic.Int32
		mu      sync.Mutex
		release chan struct{}
	}
	routes := map[string]*route{}
	for _, tc := range []struct {
		path   string
		status int
		size   int
	}{
		{"/success", 200, defaultMax},
		{"/error-at", 400, defaultMax},
		{"/error-over", 400, 3 * defaultMax},
		{"/small/success", 200, smallMax},
		{"/small/error-at", 400, smallMax},
	} {
		rt := &route{}
		routes[tc.path] = rt
		h.route(tc.path, func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(tc.status)
			_, _ = w.Write(bytes.Repeat([]byte("m"), tc.size))
			http.NewResponseController(w).Flush()
			rt.mu.Lock()
			release := rt.release
			rt.mu.Unlock()
			rt.reached.Add(1)
			select {
			case <-release:
			case <-time.After(60 * time.Second):
			}
		})
	}
	measure := func(site, path string, n int) int64 {
		t.Helper()
		rt := routes[path]
		rt.mu.Lock()
		rt.release = make(chan struct{})
		rt.mu.Unlock()
		rt.reached.Store(0)
		heap, release := inFlight(t, h, site, path, n, &rt.reached, rt.release)
		release()
		// Each measurement starts without the last one's idle
		// connections, on every side.
		h.client.Transport.(*http.Transport).CloseIdleConnections()
		h.up.CloseClientConnections()
		time.Sleep(100 * time.Millisecond)
		return int64(heap)
	}
	report := func(what string, max int, base, got int64) int64 {
		t.Helper()
		d := got - base
		t.Logf("%d in flight, max_body %d KiB, %s: heap in use %d KiB against %d KiB for successes: %+d KiB, %+.1f KiB each",
			n, max>>10, what, got>>10, base>>10, d>>10, float64(d)/n/1024)
		return d
	}

	// Warm up both paths, so that what is measured is per request.
	measure(smallSite, "/small/success", n/4)
	measure(smallSite, "/small/error-at", n/4)

	// At 1KiB the body is small against what any request costs, so
	// the figure is reported, not bounded: it varies with the race
	// detector between about 15 and 21KiB a request.
	report("errors at max_body", smallMax, measure(smallSite, "/small/success", n), measure(smallSite, "/small/error-at", n))
	over := report("errors past max_body", defaultMax, measure(defaultSite, "/success", n), measure(defaultSite, "/error-over", n))
	if limit := int64(n * 16 << 10); over > limit {
		t.Errorf("errors past max_body cost %d bytes more than successes, over %d", over, limit)
	}
	at := report("errors at max_body", defaultMax, measure(defaultSite, "/success", n), measure(defaultSite, "/error-at", n))
	if limit := int64(n * (defaultMax + 16<<10)); at > limit {
		t.Errorf("errors held at max_body cost %d bytes more than successes, over %d", at, limit)
	}
}

// The 8 KiB Accept header is negotiated, never refused.
func TestHostileLongAccept(t *testing.T) {
	h := startHostile(t)
	h.route("/err", fixed(400, []byte("Invalid Code"), "Content-Type", "text/plain"))
	var b strings.Builder
	for i := 0; b.Len() < 8<<10-64; i++ {
		fmt.Fprintf(&b, "application/x-type-%d;q=0.%d, ", i, i%10)
	}
	for accept, want := range map[string]string{
		b.String() + "application/json;q=0.9, application/problem+json;q=0.8": "application/json",
		b.String() + "text/html":       "application/problem+json",
		"text/html;q=1, " + b.String(): "application/problem+json",
	} {
		_, res, _ := h.problem(t, defaultSite, "/err", 400, "Accept", accept)
		if ct := res.Header.Get("Content-Type"); ct != want {
			t.Errorf("Accept of %d bytes: %q, want %q", len(accept), ct, want)
		}
	}
}

// mixedRequest is one request of the mixed traffic, checked whole.
type mixedRequest func(c *http.Client) error

// mixedTraffic returns the kinds of request the concurrent tests
// send: successes and documented errors through the stand-in,
// oversized and compressed errors, an upstream that is down.
func mixedTraffic(t testing.TB, h *hostile) []mixedRequest {
	t.Helper()
	h.route("/big", fixed(400, bytes.Repeat([]byte("b"), 2*smallMax), "Content-Type", "text/plain"))
	h.route("/gz", fixed(400, gzipped(t, []byte("Invalid Code")), "Content-Type", "text/plain", "Content-Encoding", "gzip"))
	h.route("/zs", fixed(401, zstded(t, []byte(`{"error":"invalid_client","error_description":"Unknown client"}`)), "Content-Type", "application/json", "Content-Encoding", "zstd"))

	call := func(c *http.Client, method, target string, form url.Values) (*http.Response, []byte, error) {
		var body io.Reader
		if form != nil {
			body = strings.NewReader(form.Encode())
		}
		req, err := http.NewRequest(method, target, body)
		if err != nil {
			return nil, nil, err
		}
		if form != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		req.Header.Set("Accept-Encoding", "gzip, deflate, br, zstd")
		res, err := c.Do(req)
		if err != nil {
			return nil, nil, err
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		return res, b, err
	}
	problem := func(c *http.Client, method, target string, form url.Values, status int, code, detail string) error {
		res, body, err := call(c, method, target, form)
		if err != nil {
			return err
		}
		if res.StatusCode != status {
			return fmt.Errorf("%s: status %d, want %d: %s", target, res.StatusCode, status, body)
		}
		if res.Header.Get("Content-Length") != strconv.Itoa(len(body)) {
			return fmt.Errorf("%s: Content-Length %q for %d bytes", target, res.Header.Get("Content-Length"), len(body))
		}
		var m map[string]any
		if err := json.Unmarshal(body, &m); err != nil {
			return fmt.Errorf("%s: %v: %s", target, err, body)
		}
		if fmt.Sprint(m["status"]) != strconv.Itoa(status) || m["error"] != code ||
			fmt.Sprint(m["detail"]) != detail && !(detail == "" && m["detail"] == nil) ||
			m["type"] == nil || m["title"] == nil || m["error_description"] == nil || m["traceId"] == nil {
			return fmt.Errorf("%s: want %d %s %q: %s", target, status, code, detail, body)
		}
		return nil
	}
	return []mixedRequest{
		func(c *http.Client) error { // success: a new code, exchanged through the gateway
			res, _, err := call(c, http.MethodGet, standinSite+"/api/oauth2?client_id=demo-client&redirect_uri="+
				url.QueryEscape("https://localhost/callback"), nil)
			if err != nil {
				return err
			}
			loc, err := url.Parse(res.Header.Get("Location"))
			if err != nil || loc.Query().Get("code") == "" {
				return fmt.Errorf("authorize: %d %q", res.StatusCode, res.Header.Get("Location"))
			}
			res, body, err := call(c, http.MethodPost, standinGW+"/api/oauth2/Token", url.Values{
				"client_id": {"demo-client"}, "client_secret": {"demo-secret"},
				"code": {loc.Query().Get("code")}, "redirect_uri": {"https://localhost/callback"}})
			if err != nil {
				return err
			}
			var tok map[string]any
			if res.StatusCode != 200 || json.Unmarshal(body, &tok) != nil || tok["access_token"] == nil || tok["token_type"] != "Bearer" {
				return fmt.Errorf("success: %d %s", res.StatusCode, body)
			}
			return nil
		},
		func(c *http.Client) error { // a documented error
			return problem(c, http.MethodPost, standinGW+"/api/oauth2/Token", url.Values{"client_id": {"demo-client"},
				"client_secret": {"demo-secret"}, "code": {"nope"}, "redirect_uri": {"https://localhost/callback"}},
				400, "invalid_grant", "Invalid Code")
		},
		func(c *http.Client) error { // another documented error
			return problem(c, http.MethodPost, standinGW+"/api/oauth2/Token", url.Values{"client_secret": {"demo-secret"}, "code": {"x"}},
				400, "invalid_client", "Invalid client_id")
		},
		func(c *http.Client) error { // oversized
			return problem(c, http.MethodGet, smallSite+"/big", nil, 400, "invalid_request", "")
		},
		func(c *http.Client) error { // gzip
			return problem(c, http.MethodGet, defaultSite+"/gz", nil, 400, "invalid_grant", "Invalid Code")
		},
		func(c *http.Client) error { // zstd
			return problem(c, http.MethodGet, defaultSite+"/zs", nil, 400, "invalid_client", "Unknown client")
		},
		func(c *http.Client) error { // upstream down
			return problem(c, http.MethodPost, deadSite+"/api/oauth2/Token", url.Values{"client_id": {"x"}}, 502, "server_error", "")
		},
	}
}

// Concurrent mixed traffic, run under -race: every response checked.
func TestHostileConcurrent(t *testing.T) {
	h := startHostile(t)
	kinds := mixedTraffic(t, h)
	const workers, each = 32, 25
	var wg sync.WaitGroup
	var failed atomic.Int32
	var done atomic.Int32
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				if err := kinds[(w+i)%len(kinds)](h.client); err != nil {
					if failed.Add(1) <= 10 {
						t.Error(err)
					}
					continue
				}
				done.Add(1)
			}
		})
	}
	wg.Wait()
	if done.Load() != workers*each {
		t.Errorf("%d of %d requests answered as they should be", done.Load(), workers*each)
	}
}
