// Package standin is a stand-in of AIRisk's OAuth 2.0 token endpoint,
// for the offline demo and the tests. It answers the documented
// requests with the documented responses, byte for byte: the five
// error responses are replayed from the captures in responses/.
//
// Where the documentation is silent it guesses, and says so below.
// It is not part of the plugin: a Caddy built with xcaddy and the
// plugin's module path never compiles it in.
package standin

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"embed"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// The demo's one client and its one pre-issued code.
const (
	ClientID     = "demo-client"
	ClientSecret = "demo-secret"
	RedirectURI  = "https://localhost/callback"
	DemoCode     = "demo-code"
)

// TokenLifetime is how long an issued token lasts. The documentation
// shows an absolute expiration but not the lifetime; one hour is a
// guess.
const TokenLifetime = time.Hour

//go:embed responses/*.http
var captures embed.FS

// The documented error responses.
var (
	missingClientID     = load("1-missing-client-id.http")
	invalidCode         = load("2-invalid-code.http")
	unknownClientID     = load("3-unknown-client-id.http")
	missingClientSecret = load("4-missing-client-secret.http")
	invalidClientSecret = load("5-invalid-client-secret.http")
)

// recorded is one captured response.
type recorded struct {
	status int
	header http.Header
	body   []byte
}

func load(name string) recorded {
	raw, err := captures.ReadFile("responses/" + name)
	if err != nil {
		panic(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(raw)), nil)
	if err != nil {
		panic(fmt.Sprintf("%s: %v", name, err))
	}
	body, err := io.ReadAll(res.Body)
	if err != nil {
		panic(fmt.Sprintf("%s: %v", name, err))
	}
	return recorded{status: res.StatusCode, header: res.Header, body: body}
}

// replay writes r as captured, chunked like Kestrel's. Only Date is
// the time of the response, not the capture's.
func (r recorded) replay(w http.ResponseWriter) {
	for k, v := range r.header {
		if k == "Date" {
			continue
		}
		w.Header()[k] = append([]string(nil), v...)
	}
	w.WriteHeader(r.status)
	// Flushing before the body makes net/http send it chunked, as the
	// captures were, instead of computing a Content-Length.
	_ = http.NewResponseController(w).Flush()
	_, _ = w.Write(r.body)
}

// Server is the stand-in. Its zero value is not usable; use New.
type Server struct {
	mu    sync.Mutex
	codes map[string]grant
}

// grant is an issued authorization code.
type grant struct {
	clientID, redirectURI string
	used                  bool
}

// New returns a stand-in that knows the demo client and DemoCode.
func New() *Server {
	return &Server{codes: map[string]grant{
		DemoCode: {clientID: ClientID, redirectURI: RedirectURI},
	}}
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/api/oauth2/Token":
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			w.WriteHeader(http.StatusMethodNotAllowed)
			return
		}
		s.token(w, r)
	case "/api/oauth2":
		s.authorize(w, r)
	default:
		// Kestrel's answer to an unknown route: 404, no body.
		w.WriteHeader(http.StatusNotFound)
	}
}

// authorize is the browser-facing endpoint: it issues a new code and
// redirects to the client's redirect_uri with it. The documentation
// does not show its errors; these are guesses.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("client_id") != ClientID {
		missingClientID.replay(w)
		return
	}
	redirect := q.Get("redirect_uri")
	if redirect != RedirectURI {
		http.Error(w, "Invalid redirect_uri", http.StatusBadRequest)
		return
	}
	code := rand.Text()
	s.mu.Lock()
	s.codes[code] = grant{clientID: ClientID, redirectURI: redirect}
	s.mu.Unlock()
	http.Redirect(w, r, redirect+"?code="+url.QueryEscape(code), http.StatusFound)
}

// token is the token endpoint. The order of its checks follows the
// documented responses: a missing field is plain text, a bad
// credential a 401 problem, a bad code plain text again.
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	f := readFields(r)
	// Not documented: credentials in an Authorization: Basic header
	// are taken when the body has no secret, as most OAuth servers do,
	// so that clients that authenticate that way can be tested too.
	// RFC 6749 section 2.3.1 form-encodes both parts.
	if id, secret, ok := r.BasicAuth(); ok && f.ClientSecret == "" {
		f.ClientID, f.ClientSecret = formDecode(id), formDecode(secret)
	}
	switch {
	case f.ClientID == "":
		missingClientID.replay(w)
		return
	case f.ClientSecret == "":
		missingClientSecret.replay(w)
		return
	case f.ClientID != ClientID:
		unknownClientID.replay(w)
		return
	case f.ClientSecret != ClientSecret:
		invalidClientSecret.replay(w)
		return
	}

	s.mu.Lock()
	g, ok := s.codes[f.Code]
	// Not documented: a redirect_uri that differs from the one the
	// code was issued for is treated like a bad code.
	valid := ok && !g.used && g.clientID == f.ClientID && g.redirectURI == f.RedirectURI
	if valid {
		g.used = true
		s.codes[f.Code] = g
	}
	s.mu.Unlock()
	if !valid {
		invalidCode.replay(w)
		return
	}

	body, _ := json.Marshal(struct {
		AccessToken string `json:"access_token"`
		Expiration  string `json:"expiration"`
	}{
		AccessToken: rand.Text() + rand.Text(),
		Expiration:  time.Now().Add(TokenLifetime).UTC().Format(time.RFC3339),
	})
	h := w.Header()
	for _, k := range []string{"Server", "Set-Cookie", "Strict-Transport-Security", "Request-Context"} {
		h[k] = append([]string(nil), invalidCode.header[k]...)
	}
	h.Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_ = http.NewResponseController(w).Flush()
	_, _ = w.Write(body)
}

// fields are the token request's parameters.
type fields struct {
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
	RedirectURI  string `json:"redirect_uri"`
	Code         string `json:"code"`
	UserID       string `json:"userid"`
}

// readFields reads a form or JSON body, as the documentation allows.
// A body it cannot read yields no fields, so the request fails like
// one that sent none.
func readFields(r *http.Request) fields {
	var f fields
	mediaType, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	body := http.MaxBytesReader(nil, r.Body, 64<<10)
	if mediaType == "application/json" {
		_ = json.NewDecoder(body).Decode(&f)
		return f
	}
	r.Body = body
	if err := r.ParseForm(); err != nil {
		return f
	}
	f.ClientID = r.PostForm.Get("client_id")
	f.ClientSecret = r.PostForm.Get("client_secret")
	f.RedirectURI = r.PostForm.Get("redirect_uri")
	f.Code = r.PostForm.Get("code")
	f.UserID = r.PostForm.Get("userid")
	return f
}

// formDecode undoes application/x-www-form-urlencoded encoding; a
// malformed value is taken as it is.
func formDecode(s string) string {
	if d, err := url.QueryUnescape(s); err == nil {
		return d
	}
	return s
}
