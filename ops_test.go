package tokenerrors_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddytest"

	"github.com/airisk-gateway/tokenerrors"
)

// Every subdirective adapts to the JSON the golden files hold.
func TestAdaptGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/adapt/*.caddyfile")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden files: %v", err)
	}
	for _, f := range files {
		caddyfile, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		want, err := os.ReadFile(strings.TrimSuffix(f, ".caddyfile") + ".json")
		if err != nil {
			t.Fatal(err)
		}
		if !caddytest.CompareAdapt(t, f, string(caddyfile), "caddyfile", string(want)) {
			t.Errorf("%s: adapted JSON differs from the golden file (diff above)", f)
		}
	}
}

// Caddy refuses a bad value at load time, naming the setting and the
// value.
func TestConfigRejected(t *testing.T) {
	startGateway(t) // the admin endpoint the loads go to
	site := func(block string) string {
		return "{\n\tadmin localhost:2999\n\thttp_port 9080\n}\nhttp://127.0.0.1:9090 {\n\tbind 127.0.0.1\n\ttoken_errors {\n" +
			block + "\n\t}\n\treverse_proxy 127.0.0.1:9081\n}\n"
	}
	// The load endpoint answers the error as JSON, quotes escaped.
	for block, want := range map[string]string{
		"max_body 0":                    `max_body: \"0\" must be more than 0`,
		"max_body lots":                 `max_body: \"lots\" is not a size`,
		"media_type xml":                `media_type: \"xml\" is not one of`,
		`map_regexp "(" invalid_grant`:  `mappings[0]: regexp \"(\"`,
		`map "Invalid Code" "bad code"`: `mappings[0]: error code \"bad code\" is not a code`,
		`map "Invalid Code" invalid_grant "t" "not a uri"`: `mappings[0]: type \"not a uri\"`,
		`type_base "no-scheme"`:                            `type_base: \"no-scheme\" is not an absolute URI`,
		`realm "a\"b"`:                                     `realm: \"a\\\"b\" may not contain quotes`,
		"colour blue":                                      `unrecognized subdirective \"colour\"`,
	} {
		caddytest.AssertLoadError(t, site(block), "caddyfile", want)
	}
	caddytest.AssertLoadError(t, `{"admin":{"listen":"localhost:2999"},"apps":{"http":{"servers":{"s":{"listen":["127.0.0.1:9090"],
		"routes":[{"handle":[{"handler":"token_errors","max_body":-1}]}]}}}}}`, "json", "max_body: must be more than 0 and at most 1GiB, got -1")
}

// metricValue reads one series from the admin endpoint's /metrics.
func metricValue(t *testing.T, series string) float64 {
	t.Helper()
	res, err := http.Get("http://localhost:2999/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if name, value, ok := strings.Cut(sc.Text(), " "); ok && name == series {
			f, err := strconv.ParseFloat(value, 64)
			if err != nil {
				t.Fatal(err)
			}
			return f
		}
	}
	return 0
}

// The counters are served on the admin endpoint's /metrics, with
// bounded labels, and keep counting across a reload.
func TestMetrics(t *testing.T) {
	config := `
{
	admin localhost:2999
	http_port 9080
	grace_period 1ns
}
http://127.0.0.1:9090 {
	bind 127.0.0.1
	token_errors
	reverse_proxy 127.0.0.1:9091
}
http://127.0.0.1:9091 {
	bind 127.0.0.1
	airisk_standin
}
http://127.0.0.1:9092 {
	bind 127.0.0.1
	token_errors {
		max_body 16
	}
	reverse_proxy 127.0.0.1:9091
}
http://127.0.0.1:9093 {
	bind 127.0.0.1
	token_errors
	reverse_proxy 127.0.0.1:9099
}
http://127.0.0.1:9094 {
	bind 127.0.0.1
	token_errors
	respond "{\"error\":\"made_up_by_upstream\"}" 400
}
`
	const (
		badCode  = `caddy_http_token_errors_rewritten_total{error="invalid_grant",shape="text",status="400"}`
		problem  = `caddy_http_token_errors_rewritten_total{error="invalid_client",shape="problem",status="400"}`
		down     = `caddy_http_token_errors_rewritten_total{error="server_error",shape="gateway",status="502"}`
		unread   = `caddy_http_token_errors_rewritten_total{error="invalid_request",shape="unread",status="400"}`
		other    = `caddy_http_token_errors_rewritten_total{error="other",shape="oauth",status="400"}`
		overSize = `caddy_http_token_errors_unread_bodies_total{reason="over_limit"}`
	)
	tester := caddytest.NewTester(t)
	for round := 1; round <= 2; round++ {
		tester.InitServer(config, "caddyfile") // the second time, a reload
		before := map[string]float64{}
		for _, s := range []string{badCode, problem, down, unread, other, overSize} {
			before[s] = metricValue(t, s)
		}
		bad := url.Values{"client_id": {"demo-client"}, "client_secret": {"demo-secret"}, "code": {"nope"}}
		post(t, tester.Client, "http://127.0.0.1:9090"+tokenPath, bad)
		post(t, tester.Client, "http://127.0.0.1:9090"+tokenPath, bad)
		post(t, tester.Client, "http://127.0.0.1:9090"+tokenPath, url.Values{"client_id": {"x"}, "client_secret": {"y"}})
		post(t, tester.Client, "http://127.0.0.1:9093"+tokenPath, nil)
		post(t, tester.Client, "http://127.0.0.1:9092"+tokenPath, url.Values{"client_id": {"demo-client"}})
		post(t, tester.Client, "http://127.0.0.1:9094"+tokenPath, nil)
		for s, want := range map[string]float64{badCode: 2, problem: 1, down: 1, unread: 1, other: 1, overSize: 1} {
			if got := metricValue(t, s) - before[s]; got != want {
				t.Errorf("round %d: %s grew by %v, want %v", round, s, got, want)
			}
		}
	}
}

// logLines reads a JSON log file written by Caddy.
func logLines(t *testing.T, path string) []map[string]any {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line is not JSON: %q", l)
		}
		lines = append(lines, m)
	}
	return lines
}

// Each rewrite logs one debug line an operator can search by trace id;
// a body over the limit logs one warning; no log line, the module's
// or the access log's, holds a secret, a credential or a token.
func TestLogs(t *testing.T) {
	dir := t.TempDir()
	logFile := filepath.Join(dir, "caddy.log")
	config := fmt.Sprintf(`
{
	admin localhost:2999
	http_port 9080
	grace_period 1ns
	log {
		output file %s
		format json
		level DEBUG
	}
}
http://127.0.0.1:9090 {
	bind 127.0.0.1
	log
	token_errors {
		max_body 100
	}
	reverse_proxy 127.0.0.1:9091
}
http://127.0.0.1:9091 {
	bind 127.0.0.1
	airisk_standin
}
`, logFile)
	tester := caddytest.NewTester(t)
	tester.InitServer(config, "caddyfile")

	const secret = "s3cr3t-never-logged"
	gw := "http://127.0.0.1:9090" + tokenPath
	// "Invalid Code", 12 bytes, within max_body.
	_, body := post(t, tester.Client, gw,
		url.Values{"client_id": {"demo-client"}, "client_secret": {"demo-secret"}, "code": {"nope"}})
	var problem struct{ TraceID string }
	if err := json.Unmarshal(body, &problem); err != nil {
		t.Fatal(err)
	}
	// Wrong secrets, in the header and in the form: 401 problems of
	// 165 bytes, over max_body.
	post(t, tester.Client, gw, url.Values{"code": {"nope"}}, "Authorization", "Basic "+basicAuth("demo-client", secret))
	post(t, tester.Client, gw, url.Values{"client_id": {"demo-client"}, "client_secret": {secret}})
	res, token := post(t, tester.Client, gw, url.Values{"client_id": {"demo-client"},
		"client_secret": {"demo-secret"}, "code": {issueCodeAt(t, "http://127.0.0.1:9091")}, "redirect_uri": {"https://localhost/callback"}})
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(token, &tok); err != nil || tok.AccessToken == "" {
		t.Fatalf("success: %d %s", res.StatusCode, token)
	}

	raw, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, leak := range []string{secret, basicAuth("demo-client", secret), tok.AccessToken, "demo-secret"} {
		if strings.Contains(string(raw), leak) {
			t.Errorf("the log holds %q", leak)
		}
	}

	var rewrites, warnings int
	found := false
	for _, l := range logLines(t, logFile) {
		if l["logger"] != "http.handlers.token_errors" {
			continue
		}
		switch l["msg"] {
		case "rewrote token error":
			rewrites++
			if l["trace_id"] == problem.TraceID && l["error"] == "invalid_grant" &&
				l["upstream_status"] == 400.0 && l["status"] == 400.0 && l["shape"] == "text" &&
				l["upstream_content_type"] == "text/plain; charset=utf-8" && l["upstream_body_size"] == 12.0 {
				found = true
			}
		case "upstream error body over max_body; answering without its text":
			warnings++
			if l["level"] != "warn" || l["upstream_status"] != 401.0 || l["max_body"] != 100.0 {
				t.Errorf("over-limit warning: %v", l)
			}
		}
	}
	if rewrites != 3 || warnings != 2 || !found {
		t.Errorf("%d rewrite lines (want 3), %d warnings (want 2), line with trace id %s found: %v\n%s",
			rewrites, warnings, problem.TraceID, found, raw)
	}
}

// issueCodeAt asks a stand-in's authorization endpoint for a new code.
func issueCodeAt(t *testing.T, standin string) string {
	t.Helper()
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.Get(standin + "/api/oauth2?client_id=demo-client&redirect_uri=" + url.QueryEscape("https://localhost/callback"))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	loc, err := url.Parse(res.Header.Get("Location"))
	if err != nil || loc.Query().Get("code") == "" {
		t.Fatalf("authorize: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
	return loc.Query().Get("code")
}

// Placeholders in the realm, type base and a mapping's title and detail
// are expanded per request; what they expand to cannot break the
// header or the JSON.
func TestPlaceholders(t *testing.T) {
	config := `
{
	admin localhost:2999
	http_port 9080
	grace_period 1ns
}
http://127.0.0.1:9090 {
	bind 127.0.0.1
	token_errors {
		realm "{http.request.header.X-Realm}"
		type_base "https://{http.request.host}/errors#"
		map "Invalid Code" invalid_grant "{http.request.header.X-Title}" "" "Code for {http.request.uri.path}"
	}
	reverse_proxy 127.0.0.1:9091
}
http://127.0.0.1:9091 {
	bind 127.0.0.1
	airisk_standin
}
`
	tester := caddytest.NewTester(t)
	tester.InitServer(config, "caddyfile")

	evil := "a\"b\\c</script>"
	res, body := post(t, tester.Client, "http://127.0.0.1:9090"+tokenPath,
		url.Values{"client_id": {"demo-client"}, "client_secret": {"demo-secret"}, "code": {"nope"}},
		"X-Title", evil)
	m := tokenerrors.CheckProblem(t, res.StatusCode, body)
	if m["title"] != evil || m["detail"] != "Code for "+tokenPath || m["type"] != "https://127.0.0.1/errors#invalid_grant" {
		t.Errorf("expanded members: %s", body)
	}

	res, body = post(t, tester.Client, "http://127.0.0.1:9090"+tokenPath, url.Values{"code": {"x"}},
		"Authorization", "Basic "+basicAuth("demo-client", "wrong"), "X-Realm", `AIRisk "prod"\`)
	tokenerrors.CheckProblem(t, res.StatusCode, body)
	if got := res.Header.Values("WWW-Authenticate"); len(got) != 1 || got[0] != `Basic realm="AIRisk prod"` {
		t.Errorf("realm: %q", got)
	}
}

// A reload through the admin API that changes a mapping takes effect
// for new requests and fails none of those running across it.
func TestReload(t *testing.T) {
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(300 * time.Millisecond)
		http.Error(w, "Invalid Code", http.StatusBadRequest)
	}))
	defer slow.Close()
	config := func(title string) string {
		return fmt.Sprintf(`
{
	admin localhost:2999
	http_port 9080
	grace_period 10s
}
http://127.0.0.1:9090 {
	bind 127.0.0.1
	token_errors {
		map "Invalid Code" invalid_grant %q
	}
	reverse_proxy %s
}
`, title, strings.TrimPrefix(slow.URL, "http://"))
	}
	tester := caddytest.NewTester(t)
	tester.InitServer(config("Before"), "caddyfile")

	const n = 20
	titles := make(chan string, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			res, err := http.Post("http://127.0.0.1:9090"+tokenPath, "application/x-www-form-urlencoded", nil)
			if err != nil {
				t.Errorf("request across the reload: %v", err)
				return
			}
			defer res.Body.Close()
			body, err := io.ReadAll(res.Body)
			if err != nil {
				t.Errorf("reading across the reload: %v", err)
				return
			}
			m := tokenerrors.CheckProblem(t, res.StatusCode, body)
			titles <- m["title"].(string)
		})
	}
	time.Sleep(100 * time.Millisecond) // all n are waiting on the upstream
	tester.InitServer(config("After"), "caddyfile")
	wg.Wait()
	close(titles)
	count := 0
	for title := range titles {
		count++
		if title != "Before" {
			t.Errorf("in-flight request got title %q, want the old config's", title)
		}
	}
	if count != n {
		t.Errorf("%d of %d requests across the reload answered", count, n)
	}

	res, body := post(t, tester.Client, "http://127.0.0.1:9090"+tokenPath, nil)
	if m := tokenerrors.CheckProblem(t, res.StatusCode, body); m["title"] != "After" {
		t.Errorf("after the reload: %s", body)
	}
}
