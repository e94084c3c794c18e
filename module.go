// Package tokenerrors is a Caddy HTTP handler that sits in front of an
// OAuth 2.0 token endpoint and answers every error in one shape: an
// RFC 9457 problem details object that also carries the RFC 6749
// section 5.2 members, so that problem-aware clients and ordinary
// OAuth libraries both read it. Success responses stream through
// untouched.
package tokenerrors

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func init() {
	caddy.RegisterModule(Handler{})
}

// Handler rewrites the error responses of the handlers it wraps,
// usually `reverse_proxy` in front of a token endpoint, into RFC 9457
// problem details with the RFC 6749 `error` and `error_description`
// members. It acts on every response with a status from 400 to 599
// (except 499, a client that went away) and on every error a handler
// returns without writing a response, such as `reverse_proxy`'s 502,
// 503 and 504 when the upstream is down. Other responses pass through
// byte for byte, streamed.
type Handler struct {
	// The most bytes of an upstream error body to read, after
	// decoding. A body past it is answered without `detail`, and a
	// warning is logged. Default: 64KiB.
	MaxBody int `json:"max_body,omitempty"`

	// The base of the `type` URI: the error code is appended to it.
	// Placeholders are expanded per request. Default: `https://github.com/airisk-gateway/tokenerrors/blob/main/ERRORS.md#`.
	TypeBase string `json:"type_base,omitempty"`

	// The realm of the `WWW-Authenticate: Basic` challenge sent with
	// `invalid_client` to a client that authenticated with HTTP Basic.
	// Placeholders are expanded per request. Default: `token`.
	Realm string `json:"realm,omitempty"`

	// How the answer's Content-Type is chosen: `negotiate` (by the
	// request's Accept header: `application/json` when the client
	// prefers it, `application/problem+json` otherwise), `problem`
	// (always `application/problem+json`) or `json` (always
	// `application/json`, for old clients that send no Accept but
	// read only that type). Default: `negotiate`.
	MediaType string `json:"media_type,omitempty"`

	// Answer with the upstream's status as it was, instead of 400 or
	// 401 for `invalid_client` as RFC 6749 section 5.2 asks.
	// Default: false.
	KeepStatus bool `json:"keep_status,omitempty"`

	// Let the upstream's text of a 5xx error reach the client in
	// `detail` and its other members. Off, a 5xx answer names only the
	// error code, since such text is often a stack trace.
	// Default: false.
	ExposeServerErrors bool `json:"expose_server_errors,omitempty"`

	// Complete 2xx JSON token responses that lack `token_type` or
	// `expires_in`: add `token_type` `Bearer`, and `expires_in` from
	// AIRisk's absolute `expiration`, keep every member the upstream
	// sent, and set `Cache-Control: no-store`. Only bodies up to
	// `max_body` are read; larger or encoded ones stream untouched.
	// Default: false.
	CompleteTokenResponse bool `json:"complete_token_response,omitempty"`

	// The operator's own mappings from upstream text to error code,
	// tried in order before the built-in ones.
	Mappings []MappingConfig `json:"mappings,omitempty"`

	policy     Policy
	codeLabels map[string]struct{}
	logger     *zap.Logger
}

// MappingConfig maps an upstream's error text to an RFC 6749 error
// code. The text is a plain-text body, or the `detail`,
// `error_description`, `reason`, `message` or `title` member of a JSON
// body, the first that is present, trimmed of white space.
type MappingConfig struct {
	// The text to match exactly. Set this or `regexp`.
	Match string `json:"match,omitempty"`

	// A regular expression (RE2 syntax) the text must match. Set this
	// or `match`.
	Regexp string `json:"regexp,omitempty"`

	// The RFC 6749 error code to answer with, such as `invalid_grant`.
	Error string `json:"error"`

	// The `title` of the answer; placeholders are expanded per request.
	// Default: the title of the error code.
	Title string `json:"title,omitempty"`

	// The `type` URI of the answer; placeholders are expanded per
	// request. Default: `type_base` followed by
	// the error code.
	Type string `json:"type,omitempty"`

	// The `detail` of the answer; placeholders are expanded per
	// request. Default: the upstream's text.
	Detail string `json:"detail,omitempty"`
}

const (
	defaultMaxBody  = 64 << 10
	maxMaxBody      = 1 << 30
	defaultTypeBase = "https://github.com/airisk-gateway/tokenerrors/blob/main/ERRORS.md#"
	defaultRealm    = "token"
)

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.token_errors",
		New: func() caddy.Module { return new(Handler) },
	}
}

// Provision sets defaults and compiles the mappings.
func (h *Handler) Provision(ctx caddy.Context) error {
	h.logger = ctx.Logger()
	if err := registerMetrics(ctx.GetMetricsRegistry()); err != nil {
		return fmt.Errorf("registering metrics: %v", err)
	}
	return h.provision()
}

func (h *Handler) provision() error {
	if h.MaxBody == 0 {
		h.MaxBody = defaultMaxBody
	}
	if h.TypeBase == "" {
		h.TypeBase = defaultTypeBase
	}
	if h.Realm == "" {
		h.Realm = defaultRealm
	}
	if h.MediaType == "" {
		h.MediaType = "negotiate"
	}
	h.policy = Policy{
		TypeBase:           h.TypeBase,
		KeepStatus:         h.KeepStatus,
		ExposeServerErrors: h.ExposeServerErrors,
	}
	for i, mc := range h.Mappings {
		m := Mapping{Match: mc.Match, Error: mc.Error, Title: mc.Title, Type: mc.Type, Detail: mc.Detail}
		if mc.Regexp != "" {
			re, err := regexp.Compile(mc.Regexp)
			if err != nil {
				return fmt.Errorf("mappings[%d]: regexp %q: %v", i, mc.Regexp, err)
			}
			m.Regexp = re
		}
		h.policy.Mappings = append(h.policy.Mappings, m)
	}
	h.policy.Prepare()
	h.codeLabels = make(map[string]struct{})
	for code := range titles { // the codes of RFC 6749 section 5.2
		h.codeLabels[code] = struct{}{}
	}
	for _, m := range h.Mappings {
		h.codeLabels[m.Error] = struct{}{}
	}
	return nil
}

// Validate rejects a configuration that could only give malformed
// answers, naming the setting and the value.
func (h *Handler) Validate() error {
	if h.MaxBody < 0 || h.MaxBody > maxMaxBody {
		return fmt.Errorf("max_body: must be more than 0 and at most 1GiB, got %d", h.MaxBody)
	}
	// Placeholders are checked per request; here they stand for a
	// plain word.
	base := placeholders.ReplaceAllString(h.TypeBase, "x")
	if u, err := url.Parse(base); err != nil || !validURIReference(base) || u.Scheme == "" {
		return fmt.Errorf("type_base: %q is not an absolute URI", h.TypeBase)
	}
	if quotable(h.Realm) != h.Realm {
		return fmt.Errorf("realm: %q may not contain quotes, backslashes or line breaks", h.Realm)
	}
	switch h.MediaType {
	case "negotiate", "problem", "json":
	default:
		return fmt.Errorf("media_type: %q is not one of negotiate, problem, json", h.MediaType)
	}
	for i, m := range h.Mappings {
		if (m.Match == "") == (m.Regexp == "") {
			return fmt.Errorf("mappings[%d]: exactly one of match and regexp must be set", i)
		}
		if !validCode(m.Error) || strings.Contains(m.Error, "{") {
			return fmt.Errorf("mappings[%d]: error code %q is not a code: printable ASCII without spaces, quotes, backslashes or placeholders", i, m.Error)
		}
		if m.Type != "" && !validURIReference(placeholders.ReplaceAllString(m.Type, "x")) {
			return fmt.Errorf("mappings[%d]: type %q is not a URI reference", i, m.Type)
		}
	}
	return nil
}

// writerPool saves the success path its one allocation. A writer is
// reset before use and goes back once ServeHTTP has returned, when no
// handler may use it any more.
var writerPool = sync.Pool{New: func() any { return new(captureWriter) }}

// bufPool holds byte slices for held error bodies and for answers, so
// the error path does not make garbage of both on every request.
var bufPool sync.Pool

func getBuffer() []byte {
	if b, ok := bufPool.Get().(*[]byte); ok {
		return (*b)[:0]
	}
	return make([]byte, 0, 1024)
}

// putBuffer returns b to the pool, unless it is too large to keep.
func putBuffer(b []byte) {
	if cap(b) == 0 || cap(b) > 64<<10 {
		return
	}
	b = b[:0]
	bufPool.Put(&b)
}

// placeholders finds Caddy placeholders such as {http.request.host}.
var placeholders = regexp.MustCompile(`\{[^{}]*\}`)

// ServeHTTP passes the request on and rewrites an error response, or
// an error returned without a response, into a problem.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) (err error) {
	cw := writerPool.Get().(*captureWriter)
	*cw = captureWriter{
		ResponseWriterWrapper: caddyhttp.ResponseWriterWrapper{ResponseWriter: w},
		limit:                 h.MaxBody,
		tokens:                h.CompleteTokenResponse,
	}
	defer writerPool.Put(cw) // after the recovery below, which may still read it
	defer func() {
		// reverse_proxy panics with http.ErrAbortHandler when the
		// upstream fails mid-body. While a body is held, nothing has
		// reached the client yet, so it can still get a whole answer.
		if v := recover(); v != nil {
			if v != http.ErrAbortHandler || cw.mode == streaming { //nolint:errorlint // compared as a panic value
				panic(v)
			}
			h.logger.Error("upstream failed while sending its body",
				zap.Int("upstream_status", cw.status))
			err = h.answer(w, r, Upstream{Status: http.StatusBadGateway, Gateway: true}, cw.status)
		}
	}()

	err = next.ServeHTTP(cw, r)
	switch {
	case cw.mode == holdError && err == nil:
		err = h.answer(w, r, h.captured(cw), cw.status)
		putBuffer(cw.buf) // the answer copied what it kept
		return err
	case cw.mode == holdToken && err == nil:
		return h.completeToken(w, cw)
	case cw.mode != streaming:
		h.logger.Error("handler failed after starting its response",
			zap.Int("upstream_status", cw.status), zap.Error(err))
		return h.answer(w, r, Upstream{Status: http.StatusBadGateway, Gateway: true}, cw.status)
	case err != nil && !cw.wroteHeader:
		status := http.StatusInternalServerError
		if herr, ok := errors.AsType[caddyhttp.HandlerError](err); ok && herr.StatusCode != 0 {
			status = herr.StatusCode
		}
		if status < 400 || status > 599 || status == 499 {
			return err
		}
		// Caddy logs nothing of an error a handler answered for.
		h.logger.Error("answering a handler error", zap.Int("status", status), zap.Error(err))
		return h.answer(w, r, Upstream{Status: status, Gateway: true}, 0)
	}
	return err
}

// captured reads what cw holds of an upstream error response.
func (h *Handler) captured(cw *captureWriter) Upstream {
	hdr := cw.Header()
	u := Upstream{Status: cw.status, ContentType: hdr.Get("Content-Type")}
	if cw.over {
		unreadTotal.WithLabelValues("over_limit").Inc()
		h.logger.Warn("upstream error body over max_body; answering without its text",
			zap.Int("upstream_status", cw.status), zap.Int("max_body", h.MaxBody))
		u.Unread = true
		return u
	}
	body, err := decodeBody(cw.buf, strings.Join(hdr.Values("Content-Encoding"), ","), h.MaxBody)
	if err != nil {
		unreadTotal.WithLabelValues("undecodable").Inc()
		h.logger.Warn("upstream error body could not be decoded; answering without its text",
			zap.Int("upstream_status", cw.status),
			zap.Strings("content_encoding", hdr.Values("Content-Encoding")),
			zap.Int("max_body", h.MaxBody), zap.Error(err))
		u.Unread = true
		return u
	}
	u.Body = body
	return u
}

// completeToken writes a held 2xx JSON response, completed if it is a
// token response that lacks `token_type` or `expires_in`.
func (h *Handler) completeToken(w http.ResponseWriter, cw *captureWriter) error {
	body, changed := completeToken(cw.buf, time.Now())
	if changed {
		hdr := w.Header()
		for _, k := range bodyHeaders {
			delete(hdr, k)
		}
		hdr["Content-Length"] = []string{strconv.Itoa(len(body))}
		// RFC 6749 section 5.1: token responses are not to be cached.
		hdr["Cache-Control"] = noStore
		hdr["Pragma"] = noCache
		cw.buf = body
	}
	return cw.release()
}

// Header values shared by every answer. Header maps hold slices; an
// append to one of these makes a new one, so sharing is safe.
var (
	noStore      = []string{"no-store"}
	noCache      = []string{"no-cache"}
	problemTypes = []string{mediaProblem}
	jsonTypes    = []string{mediaJSON}
)

// Headers that describe the upstream's body, not ours; in canonical
// form.
var bodyHeaders = func(names ...string) []string {
	for i, n := range names {
		names[i] = http.CanonicalHeaderKey(n)
	}
	return names
}(
	"Content-Encoding", "Content-Length", "Content-Range", "Accept-Ranges",
	"ETag", "Last-Modified", "Content-MD5", "Digest", "Content-Digest", "Repr-Digest",
	"Trailer", "WWW-Authenticate",
)

// answer normalises u and writes the problem. upstreamStatus is the
// status the upstream wrote, 0 if none, for the log.
func (h *Handler) answer(w http.ResponseWriter, r *http.Request, u Upstream, upstreamStatus int) error {
	repl, _ := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	expand := func(s string) string {
		if repl == nil || !strings.Contains(s, "{") {
			return s
		}
		return repl.ReplaceKnown(s, "")
	}
	pr := h.policy.Normalize(u, Client{
		BasicAuth:   hasBasicAuth(r),
		TraceParent: r.Header.Get("Traceparent"),
		Expand:      expand,
	})
	body := pr.AppendJSON(getBuffer())
	defer putBuffer(body) // net/http copies what is written
	rewrittenTotal.WithLabelValues(statusLabels[pr.Status], h.codeLabel(pr.Error), pr.Shape.String()).Inc()

	hdr := w.Header()
	for _, k := range bodyHeaders {
		delete(hdr, k)
	}
	hdr["Content-Type"] = h.contentType(r)
	hdr["Content-Length"] = []string{strconv.Itoa(len(body))}
	hdr["Cache-Control"] = noStore
	hdr["Pragma"] = noCache
	if h.MediaType == "negotiate" && !varies(hdr, "Accept") {
		hdr.Add("Vary", "Accept")
	}
	if pr.Status == http.StatusUnauthorized {
		// RFC 9110 section 11.6.1: a 401 carries a challenge; RFC 6749
		// section 5.2 names the scheme the client used.
		hdr.Set("WWW-Authenticate", `Basic realm="`+quotable(expand(h.Realm))+`"`)
	}

	if c := h.logger.Check(zapcore.DebugLevel, "rewrote token error"); c != nil {
		c.Write(
			zap.Int("upstream_status", upstreamStatus),
			zap.String("upstream_content_type", u.ContentType),
			zap.String("shape", pr.Shape.String()),
			zap.String("error", pr.Error),
			zap.Int("status", pr.Status),
			zap.String("trace_id", pr.TraceID),
			zap.Int("upstream_body_size", len(u.Body)),
		)
	}

	w.WriteHeader(pr.Status)
	if r.Method == http.MethodHead {
		return nil
	}
	_, err := w.Write(body)
	return err
}

// quotable makes s fit a quoted-string: no quotes, backslashes or
// control characters, which could end the string or the header.
func quotable(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '"' || r == '\\' || r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s)
}

func (h *Handler) contentType(r *http.Request) []string {
	mt := h.MediaType
	if mt == "negotiate" {
		mt = negotiate(strings.Join(r.Header.Values("Accept"), ","))
	}
	if mt == "json" || mt == mediaJSON {
		return jsonTypes
	}
	return problemTypes
}

func hasBasicAuth(r *http.Request) bool {
	scheme, _, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	return strings.EqualFold(scheme, "Basic")
}

func varies(hdr http.Header, name string) bool {
	for _, v := range hdr.Values("Vary") {
		for f := range strings.SplitSeq(v, ",") {
			if f = strings.TrimSpace(f); f == "*" || strings.EqualFold(f, name) {
				return true
			}
		}
	}
	return false
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddy.Validator             = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
)
