package tokenerrors

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// The benchmarks here measure what the handler costs per request on
// top of the handler it wraps, and what normalising one documented
// upstream error body costs. They feed it the captures the stand-in
// replays, so a change to those captures changes what is measured.
//
//	go test -run '^$' -bench . -benchmem -count 5

// documentedError is one captured upstream error response.
type documentedError struct {
	name        string // the capture's file name without .http
	status      int
	contentType string
	body        []byte
}

// loadDocumentedErrors reads the captures in
// internal/standin/responses, decoding their chunked bodies.
func loadDocumentedErrors(tb testing.TB) []documentedError {
	tb.Helper()
	files, err := filepath.Glob(filepath.Join("internal", "standin", "responses", "*.http"))
	if err != nil || len(files) == 0 {
		tb.Fatalf("no captures found: %v", err)
	}
	var out []documentedError
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		res, err := http.ReadResponse(bufio.NewReader(strings.NewReader(string(raw))), nil)
		if err != nil {
			tb.Fatalf("%s: %v", f, err)
		}
		body, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil {
			tb.Fatalf("%s: %v", f, err)
		}
		out = append(out, documentedError{
			name:        strings.TrimSuffix(filepath.Base(f), ".http"),
			status:      res.StatusCode,
			contentType: res.Header.Get("Content-Type"),
			body:        body,
		})
	}
	return out
}

// benchHandler returns a Handler with the default configuration, set
// up by its own Provision and Validate. Provision outside a running
// Caddy gives a development logger that writes every debug line; the
// benchmarks measure the handler, not logging, so it is replaced by a
// no-op logger, as a production config at the default level would
// skip the debug lines too.
func benchHandler(b *testing.B) *Handler {
	b.Helper()
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	b.Cleanup(cancel)
	h := new(Handler)
	if err := h.Provision(ctx); err != nil {
		b.Fatal(err)
	}
	if err := h.Validate(); err != nil {
		b.Fatal(err)
	}
	h.logger = zap.NewNop()
	return h
}

// discardWriter is the cheapest ResponseWriter there is, so that what
// a benchmark measures is the handler. Its header map is kept and
// cleared between requests.
type discardWriter struct{ header http.Header }

func newDiscardWriter() *discardWriter { return &discardWriter{header: make(http.Header)} }

func (w *discardWriter) Header() http.Header         { return w.header }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *discardWriter) WriteHeader(int)             {}

// benchRequest is a token request as a client sends it, prepared the
// way Caddy's server prepares each request.
func benchRequest(w http.ResponseWriter) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "http://gateway.example/api/oauth2/Token", nil)
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("Accept", "application/json")
	return caddyhttp.PrepareRequest(r, caddy.NewReplacer(), w, nil)
}

// Header values shared by every iteration, so that setting them costs
// the next handler nothing and the figures show the handler's own
// allocations.
var (
	jsonContentType = []string{"application/json; charset=utf-8"}
	successBody     = []byte(`{"access_token":"QK2MFB6OAQUX3J4ZRNSBLUH4WFTRJ4GXSQHI5X4TX7NNYDGU6FNA","expiration":"2025-03-27T20:17:38Z"}`)
)

// BenchmarkNormalize is one documented upstream error body through
// Policy.Normalize and Problem.AppendJSON into a buffer that is
// reused, as it would be if the handler pooled its buffers.
func BenchmarkNormalize(b *testing.B) {
	h := benchHandler(b)
	for _, d := range loadDocumentedErrors(b) {
		b.Run(d.name, func(b *testing.B) {
			u := Upstream{Status: d.status, ContentType: d.contentType, Body: d.body}
			buf := make([]byte, 0, 512)
			b.ReportAllocs()
			for b.Loop() {
				pr := h.policy.Normalize(u, Client{})
				buf = pr.AppendJSON(buf[:0])
			}
		})
	}
}

// BenchmarkSuccess compares a 200 response through the handler with
// the same response from the next handler alone. The difference
// between the two is what the handler adds to every successful token
// request.
func BenchmarkSuccess(b *testing.B) {
	next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) error {
		w.Header()["Content-Type"] = jsonContentType
		w.WriteHeader(http.StatusOK)
		_, err := w.Write(successBody)
		return err
	})

	b.Run("bare", func(b *testing.B) {
		w := newDiscardWriter()
		r := benchRequest(w)
		b.ReportAllocs()
		for b.Loop() {
			clear(w.header)
			if err := next.ServeHTTP(w, r); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("token_errors", func(b *testing.B) {
		h := benchHandler(b)
		w := newDiscardWriter()
		r := benchRequest(w)
		b.ReportAllocs()
		for b.Loop() {
			clear(w.header)
			if err := h.ServeHTTP(w, r, next); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkError is one documented upstream error through the handler:
// captured, normalised and answered as a problem.
func BenchmarkError(b *testing.B) {
	h := benchHandler(b)
	for _, d := range loadDocumentedErrors(b) {
		b.Run(d.name, func(b *testing.B) {
			contentType := []string{d.contentType}
			next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) error {
				w.Header()["Content-Type"] = contentType
				w.WriteHeader(d.status)
				_, err := w.Write(d.body)
				return err
			})
			w := newDiscardWriter()
			r := benchRequest(w)
			b.ReportAllocs()
			for b.Loop() {
				clear(w.header)
				if err := h.ServeHTTP(w, r, next); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
