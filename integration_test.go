package tokenerrors_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/caddyserver/caddy/v2/caddytest"

	"github.com/airisk-gateway/tokenerrors"
	_ "github.com/airisk-gateway/tokenerrors/internal/standin"
)

// The gateway under test: token_errors in front of the stand-in, as
// the demo runs it, plus variants. Each site is its own gateway.
const gatewayConfig = `
{
	admin localhost:2999
	http_port 9080
	https_port 9443
	grace_period 1ns
	skip_install_trust
}

# The demo: at site level, in front of reverse_proxy.
http://127.0.0.1:9080 {
	bind 127.0.0.1
	token_errors {
		complete_token_response
	}
	reverse_proxy 127.0.0.1:9081
}

# The stand-in of AIRisk.
http://127.0.0.1:9081 {
	bind 127.0.0.1
	airisk_standin
}

# Upstream down: nothing listens on 9099.
http://127.0.0.1:9082 {
	bind 127.0.0.1
	token_errors
	reverse_proxy 127.0.0.1:9099
}

# Inside a handle block, a bare line, with options.
http://127.0.0.1:9083 {
	bind 127.0.0.1
	handle /api/* {
		token_errors {
			realm AIRisk
			media_type json
			keep_status
		}
		reverse_proxy 127.0.0.1:9081
	}
	handle {
		respond "not here" 404
	}
}
`

const (
	gateway   = "http://127.0.0.1:9080"
	standin   = "http://127.0.0.1:9081"
	downSite  = "http://127.0.0.1:9082"
	handled   = "http://127.0.0.1:9083"
	tokenPath = "/api/oauth2/Token"
)

func startGateway(t *testing.T) *caddytest.Tester {
	t.Helper()
	// caddytest skips, rather than fails, when Caddy does not start;
	// a skipped integration test must not pass for a green run.
	t.Cleanup(func() {
		if t.Skipped() && !testing.Short() {
			t.Error("the gateway did not start")
		}
	})
	tester := caddytest.NewTester(t)
	tester.InitServer(gatewayConfig, "caddyfile")
	return tester
}

// post sends a token request and returns the response with its body.
func post(t *testing.T, c *http.Client, target string, form url.Values, header ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, target, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, body
}

// documentedCase is one of AIRisk's documented errors and the request
// that causes it.
type documentedCase struct {
	file string
	form url.Values
	// What the client should get through the gateway, credentials in
	// the form body.
	code   string
	detail string
}

var documentedCases = []documentedCase{
	{"1-missing-client-id.http", url.Values{"client_secret": {"demo-secret"}, "code": {"x"}}, "invalid_client", "Invalid client_id"},
	{"2-invalid-code.http", url.Values{"client_id": {"demo-client"}, "client_secret": {"demo-secret"}, "code": {"nope"}, "redirect_uri": {"https://localhost/callback"}}, "invalid_grant", "Invalid Code"},
	{"3-unknown-client-id.http", url.Values{"client_id": {"someone"}, "client_secret": {"x"}, "code": {"x"}}, "invalid_client", ""},
	{"4-missing-client-secret.http", url.Values{"client_id": {"demo-client"}, "code": {"x"}}, "invalid_client", "Invalid client_secret"},
	{"5-invalid-client-secret.http", url.Values{"client_id": {"demo-client"}, "client_secret": {"wrong"}, "code": {"x"}}, "invalid_client", ""},
}

// The stand-in answers each documented request as AIRisk documents it:
// status, headers (all but Date) and body bytes.
func TestStandInReproducesDocumentation(t *testing.T) {
	tester := startGateway(t)
	for _, tc := range documentedCases {
		want, wantBody := tokenerrors.ReadCapture(t, tc.file)
		res, body := post(t, tester.Client, standin+tokenPath, tc.form)
		if res.StatusCode != want.StatusCode || !bytes.Equal(body, wantBody) {
			t.Errorf("%s: got %d %q, want %d %q", tc.file, res.StatusCode, body, want.StatusCode, wantBody)
		}
		if len(res.TransferEncoding) != 1 || res.TransferEncoding[0] != "chunked" {
			t.Errorf("%s: not chunked: %v", tc.file, res.TransferEncoding)
		}
		for k, v := range want.Header {
			if k != "Date" && strings.Join(res.Header.Values(k), "\n") != strings.Join(v, "\n") {
				t.Errorf("%s: header %s = %q, want %q", tc.file, k, res.Header.Values(k), v)
			}
		}
	}
}

// Through the gateway, each documented error is one problem, with the
// upstream's other headers kept.
func TestGatewayDocumentedErrors(t *testing.T) {
	tester := startGateway(t)
	for _, tc := range documentedCases {
		for _, basic := range []bool{false, true} {
			form := url.Values{}
			for k, v := range tc.form {
				form[k] = v
			}
			var header []string
			if basic {
				id, secret := form.Get("client_id"), form.Get("client_secret")
				form.Del("client_id")
				form.Del("client_secret")
				header = []string{"Authorization", "Basic " + basicAuth(id, secret)}
			}
			res, body := post(t, tester.Client, gateway+tokenPath, form, header...)

			wantStatus := http.StatusBadRequest
			if basic && tc.code == "invalid_client" {
				wantStatus = http.StatusUnauthorized
			}
			if res.StatusCode != wantStatus {
				t.Errorf("%s basic=%v: status %d, want %d", tc.file, basic, res.StatusCode, wantStatus)
			}
			m := tokenerrors.CheckProblem(t, res.StatusCode, body)
			if m["error"] != tc.code {
				t.Errorf("%s basic=%v: error %v, want %s", tc.file, basic, m["error"], tc.code)
			}
			if d, _ := m["detail"].(string); !basic && d != tc.detail {
				t.Errorf("%s: detail %v, want %s", tc.file, m["detail"], tc.detail)
			}

			h := res.Header
			if got := h.Get("WWW-Authenticate"); (wantStatus == 401) != (got == `Basic realm="token"`) {
				t.Errorf("%s basic=%v: WWW-Authenticate %q", tc.file, basic, got)
			}
			if h.Get("Content-Type") != "application/problem+json" || h.Get("Vary") != "Accept" ||
				h.Get("Cache-Control") != "no-store" || h.Get("Pragma") != "no-cache" {
				t.Errorf("%s: headers %v", tc.file, h)
			}
			if h.Get("Content-Length") != strconv.Itoa(len(body)) {
				t.Errorf("%s: Content-Length %q for %d bytes", tc.file, h.Get("Content-Length"), len(body))
			}
			if len(h.Values("Set-Cookie")) != 2 || h.Get("Strict-Transport-Security") == "" ||
				h.Get("Request-Context") == "" || h.Get("Server") != "Kestrel" {
				t.Errorf("%s: upstream headers lost: %v", tc.file, h)
			}
		}
	}
}

func basicAuth(id, secret string) string {
	req, _ := http.NewRequest("GET", "/", nil)
	req.SetBasicAuth(id, secret)
	return strings.TrimPrefix(req.Header.Get("Authorization"), "Basic ")
}

// issueCode asks the stand-in's authorization endpoint for a new code.
func issueCode(t *testing.T) string {
	t.Helper()
	return issueCodeAt(t, standin)
}

// A success passes through, completed with token_type and expires_in,
// and the demo code works once.
func TestGatewaySuccess(t *testing.T) {
	tester := startGateway(t)
	form := url.Values{"client_id": {"demo-client"}, "client_secret": {"demo-secret"},
		"code": {"demo-code"}, "redirect_uri": {"https://localhost/callback"}}
	res, body := post(t, tester.Client, gateway+tokenPath, form)
	if res.StatusCode != 200 || !bytes.Contains(body, []byte(`"token_type":"Bearer","expires_in":3`)) ||
		!bytes.HasPrefix(body, []byte(`{"access_token":"`)) || !bytes.Contains(body, []byte(`"expiration":"`)) {
		t.Fatalf("success: %d %s", res.StatusCode, body)
	}
	if res.Header.Get("Cache-Control") != "no-store" || res.Header.Get("Content-Length") != strconv.Itoa(len(body)) {
		t.Errorf("success headers: %v", res.Header)
	}
	res, body = post(t, tester.Client, gateway+tokenPath, form)
	if m := tokenerrors.CheckProblem(t, res.StatusCode, body); m["error"] != "invalid_grant" {
		t.Errorf("reused code: %s", body)
	}
}

// Without completion the success body streams through byte for byte.
func TestGatewaySuccessUntouched(t *testing.T) {
	tester := startGateway(t)
	form := url.Values{"client_id": {"demo-client"}, "client_secret": {"demo-secret"},
		"code": {issueCode(t)}, "redirect_uri": {"https://localhost/callback"}}
	res, body := post(t, tester.Client, handled+tokenPath, form)
	if res.StatusCode != 200 || bytes.Contains(body, []byte("token_type")) ||
		len(res.TransferEncoding) == 0 || res.Header.Get("Content-Type") != "application/json; charset=utf-8" {
		t.Errorf("success through the handle block: %d %v %s", res.StatusCode, res.TransferEncoding, body)
	}
}

// Connection refused: reverse_proxy returns 502 without writing.
func TestGatewayUpstreamDown(t *testing.T) {
	tester := startGateway(t)
	res, body := post(t, tester.Client, downSite+tokenPath, url.Values{"client_id": {"x"}})
	m := tokenerrors.CheckProblem(t, res.StatusCode, body)
	if res.StatusCode != 502 || m["error"] != "server_error" || m["detail"] != nil {
		t.Errorf("upstream down: %d %s", res.StatusCode, body)
	}
	if strings.Contains(string(body), "9099") || strings.Contains(string(body), "refused") {
		t.Errorf("dial error leaked: %s", body)
	}
}

// HEAD gets the headers of the problem and no body.
func TestGatewayHead(t *testing.T) {
	tester := startGateway(t)
	req, _ := http.NewRequest(http.MethodHead, gateway+tokenPath, nil)
	res, err := tester.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	n, _ := strconv.Atoi(res.Header.Get("Content-Length"))
	if res.StatusCode != 405 || len(body) != 0 || n < 100 || res.Header.Get("Content-Type") != "application/problem+json" {
		t.Errorf("HEAD: %d %v %q", res.StatusCode, res.Header, body)
	}
}

func TestGatewayAcceptNegotiation(t *testing.T) {
	tester := startGateway(t)
	for accept, want := range map[string]string{
		"":                            "application/problem+json",
		"*/*":                         "application/problem+json",
		"application/json":            "application/json",
		"application/json, */*;q=0.1": "application/json",
		"application/problem+json, application/json":       "application/problem+json",
		"application/problem+json;q=0.5, application/json": "application/json",
		"text/html": "application/problem+json",
	} {
		res, body := post(t, tester.Client, gateway+tokenPath, url.Values{}, "Accept", accept)
		if got := res.Header.Get("Content-Type"); got != want {
			t.Errorf("Accept %q: Content-Type %q, want %q", accept, got, want)
		}
		tokenerrors.CheckProblem(t, res.StatusCode, body)
	}
}

// Inside a handle block: media_type json, keep_status and a realm.
func TestGatewayInHandleBlock(t *testing.T) {
	tester := startGateway(t)
	res, body := post(t, tester.Client, handled+tokenPath, url.Values{"client_id": {"demo-client"}, "client_secret": {"wrong"}})
	m := tokenerrors.CheckProblem(t, res.StatusCode, body)
	if res.StatusCode != 401 || m["error"] != "invalid_client" ||
		res.Header.Get("Content-Type") != "application/json" ||
		res.Header.Get("WWW-Authenticate") != `Basic realm="AIRisk"` {
		t.Errorf("handle block: %d %v %s", res.StatusCode, res.Header, body)
	}
	res, body = post(t, tester.Client, handled+"/elsewhere", nil)
	if res.StatusCode != 404 || string(body) != "not here" {
		t.Errorf("outside the handle block: %d %s", res.StatusCode, body)
	}
}

// golang.org/x/oauth2, a real client, reads every documented error's
// code through the gateway, with credentials in the header and in the
// form.
func TestOAuth2Client(t *testing.T) {
	startGateway(t)
	ctx := context.Background()
	for _, style := range []oauth2.AuthStyle{oauth2.AuthStyleInHeader, oauth2.AuthStyleInParams} {
		conf := func(id, secret string) *oauth2.Config {
			return &oauth2.Config{ClientID: id, ClientSecret: secret, RedirectURL: "https://localhost/callback",
				Endpoint: oauth2.Endpoint{TokenURL: gateway + tokenPath, AuthStyle: style}}
		}
		for _, tc := range []struct {
			name       string
			id, secret string
			code       string
			want       string
		}{
			{"missing client_id", "", "demo-secret", "x", "invalid_client"},
			{"missing client_secret", "demo-client", "", "x", "invalid_client"},
			{"unknown client", "someone", "x", "x", "invalid_client"},
			{"wrong secret", "demo-client", "wrong", "x", "invalid_client"},
			{"bad code", "demo-client", "demo-secret", "nope", "invalid_grant"},
		} {
			_, err := conf(tc.id, tc.secret).Exchange(ctx, tc.code)
			var rerr *oauth2.RetrieveError
			if !errors.As(err, &rerr) || rerr.ErrorCode != tc.want {
				t.Errorf("style %d, %s: got %v, want ErrorCode %s", style, tc.name, err, tc.want)
			}
		}
		tok, err := conf("demo-client", "demo-secret").Exchange(ctx, issueCode(t))
		if err != nil || tok.AccessToken == "" || tok.TokenType != "Bearer" || tok.Expiry.IsZero() {
			t.Errorf("style %d, success: %+v %v", style, tok, err)
		}
	}
}

// Headers that described the upstream's body or challenge go; a
// WWW-Authenticate the upstream put on a token error is replaced by
// the one RFC 6749 asks for, or removed on a 400.
func TestGatewayReplacesBodyHeaders(t *testing.T) {
	tester := caddytest.NewTester(t)
	tester.InitServer(`
{
	admin localhost:2999
	http_port 9080
	grace_period 1ns
}
http://127.0.0.1:9095 {
	bind 127.0.0.1
	token_errors
	header {
		WWW-Authenticate "Bearer realm=\"api\""
		ETag "\"v1\""
		Last-Modified "Thu, 27 Mar 2025 19:22:06 GMT"
		Accept-Ranges bytes
		Retry-After 30
	}
	respond "Invalid client_secret" 401
}
`, "caddyfile")
	for _, basic := range []bool{false, true} {
		var header []string
		want := ""
		if basic {
			header = []string{"Authorization", "Basic " + basicAuth("demo-client", "x")}
			want = `Basic realm="token"`
		}
		res, body := post(t, tester.Client, "http://127.0.0.1:9095"+tokenPath, nil, header...)
		tokenerrors.CheckProblem(t, res.StatusCode, body)
		h := res.Header
		if got := strings.Join(h.Values("WWW-Authenticate"), ", "); got != want {
			t.Errorf("basic=%v: WWW-Authenticate %q, want %q", basic, got, want)
		}
		if h.Get("ETag") != "" || h.Get("Last-Modified") != "" || h.Get("Accept-Ranges") != "" {
			t.Errorf("basic=%v: body headers left: %v", basic, h)
		}
		if h.Get("Retry-After") != "30" {
			t.Errorf("basic=%v: Retry-After lost: %v", basic, h)
		}
	}
}
