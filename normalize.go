package tokenerrors

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// This file turns one upstream error response into one problem. It
// is pure: no Caddy types, no I/O, so it can be table-tested and
// fuzzed alone. The path is one-directional: classify reads the body,
// Policy.Normalize picks the OAuth code and status, Problem.AppendJSON
// writes the answer.

// Shape is the form an upstream error body took. Its String values
// are used as metric labels, so the set is closed.
type Shape uint8

const (
	ShapeEmpty   Shape = iota // no body, or ASP.NET Core's "Status Code: 400; Bad Request"
	ShapeText                 // plain text
	ShapeHTML                 // an HTML page, from the upstream or a front end
	ShapeProblem              // RFC 9457 problem details (ASP.NET Core's ProblemDetails)
	ShapeReason               // the documented {"status_code": ..., "reason": ...}
	ShapeOAuth                // RFC 6749 section 5.2 JSON with an `error` member
	ShapeJSON                 // any other JSON value
	ShapeUnread               // over the size limit, or an encoding that could not be decoded
	ShapeGateway              // no response at all: a handler returned an error
)

var shapeNames = [...]string{"empty", "text", "html", "problem", "reason", "oauth", "json", "unread", "gateway"}

func (s Shape) String() string { return shapeNames[s] }

// Upstream is an error response as the gateway received it.
type Upstream struct {
	// Status is the status code the upstream (or the handler that
	// returned an error) gave.
	Status int
	// ContentType is the upstream's Content-Type header.
	ContentType string
	// Body is the decoded body; nil when Unread is set.
	Body []byte
	// Unread is set when the body was not read whole: it was over the
	// limit or its Content-Encoding could not be decoded.
	Unread bool
	// Gateway is set when no response was written at all and Status
	// comes from a handler's error (reverse_proxy's 502, 503, 504).
	Gateway bool
}

// Client is what the answer depends on in the client's request.
type Client struct {
	// BasicAuth is set when the request carried Authorization: Basic.
	BasicAuth bool
	// TraceParent is the request's W3C traceparent header, if any.
	TraceParent string
	// Expand, if set, expands the placeholders of the operator's
	// strings (type base, mapped title, type and detail) for this
	// request.
	Expand func(string) string
}

func (c Client) expand(s string) string {
	if c.Expand == nil || s == "" {
		return s
	}
	return c.Expand(s)
}

// Mapping turns an upstream text into an error code of the operator's
// choice. Exactly one of Match and Regexp is set.
type Mapping struct {
	Match  string
	Regexp *regexp.Regexp
	Error  string
	// Optional overrides; empty means the default for Error.
	Title, Type, Detail string
}

func (m *Mapping) matches(text string) bool {
	if m.Regexp != nil {
		return m.Regexp.MatchString(text)
	}
	return m.Match == text
}

// defaultMappings are AIRisk's documented plain-text errors. They come
// after the operator's mappings and after an `error` member the
// upstream already sent.
var defaultMappings = []Mapping{
	{Match: "Invalid client_id", Error: "invalid_client"},
	{Match: "Invalid client_secret", Error: "invalid_client"},
	{Match: "Invalid Code", Error: "invalid_grant"},
}

// Policy holds the operator's choices. Normalize only reads it, so one
// Policy serves concurrent requests.
type Policy struct {
	// TypeBase is prefixed to the error code to make the `type` URI.
	TypeBase string
	// Mappings are tried in order before the defaults.
	Mappings []Mapping
	// KeepStatus answers with the upstream's status, whatever the code.
	KeepStatus bool
	// ExposeServerErrors lets the upstream's text of a 5xx reach the
	// client in `detail`.
	ExposeServerErrors bool

	typeURIs map[string]string // see Prepare
}

// Prepare makes, once, what Normalize would otherwise make for every
// answer: the `type` URIs of the standard codes, when TypeBase has no
// placeholders. It is optional, and not safe to call while Normalize
// runs.
func (p *Policy) Prepare() {
	p.typeURIs = nil
	if strings.Contains(p.TypeBase, "{") {
		return
	}
	p.typeURIs = make(map[string]string, len(titles))
	for code := range titles {
		p.typeURIs[code] = p.TypeBase + code
	}
}

// typeURI is the `type` of code.
func (p *Policy) typeURI(code string, c Client) string {
	if t, ok := p.typeURIs[code]; ok {
		return t
	}
	return c.expand(p.TypeBase) + code
}

// Problem is one answer: RFC 9457 problem details carrying the RFC
// 6749 section 5.2 members.
type Problem struct {
	Type   string // RFC 9457 `type`, a URI reference
	Title  string // RFC 9457 `title`
	Status int    // RFC 9457 `status`, always the status on the wire
	Detail string // RFC 9457 `detail`; empty means absent
	// Error is the RFC 6749 `error` code.
	Error string
	// ErrorDescription is RFC 6749's `error_description`, limited to
	// printable ASCII without '"' and '\'.
	ErrorDescription string
	// ErrorURI is RFC 6749's `error_uri`, kept from the upstream.
	ErrorURI string
	// TraceID is a W3C traceparent-form id, as ASP.NET Core writes it.
	TraceID string
	// Extra holds the upstream's other members, in key order.
	Extra []Member

	// Shape is the form the upstream body took; it is not written.
	Shape Shape
}

// Member is one JSON object member, its value already valid JSON.
type Member struct {
	Name  string
	Value json.RawMessage
}

// Normalize answers the upstream response u to client c.
func (p *Policy) Normalize(u Upstream, c Client) Problem {
	in := classify(u)

	// Choose the code: the operator's mappings, then an `error` the
	// upstream sent, then AIRisk's documented texts, then the status.
	var m *Mapping
	code := ""
	for i := range p.Mappings {
		if p.Mappings[i].matches(in.text) {
			m = &p.Mappings[i]
			code = m.Error
			break
		}
	}
	// On a 5xx the upstream's own words stay hidden unless exposed: its
	// code only if it is one of RFC 6749's, its type and title never.
	hide := u.Status >= 500 && !p.ExposeServerErrors
	keepUpstream := false
	if code == "" && validCode(in.error) && (!hide || titles[in.error] != "") {
		code = in.error
		keepUpstream = !hide
	}
	if code == "" {
		for i := range defaultMappings {
			if defaultMappings[i].matches(in.text) {
				code = defaultMappings[i].Error
				break
			}
		}
	}
	if code == "" {
		code = codeForStatus(u.Status)
	}

	pr := Problem{
		Error:   code,
		Status:  p.status(u.Status, code, c.BasicAuth),
		TraceID: in.traceID,
		Shape:   in.shape,
	}
	if !validTraceID(pr.TraceID) {
		pr.TraceID = newTraceID(c.TraceParent)
	}

	server := u.Status >= 500 || pr.Status >= 500
	if !server || p.ExposeServerErrors {
		pr.Detail = in.text
		pr.Extra = in.extra
		pr.ErrorURI = in.errorURI
	}

	// A problem that already carries a valid `error` (this module's
	// own answer, passing a second instance) keeps its type and title.
	if keepUpstream && validURIReference(in.typ) && in.title != "" {
		pr.Type, pr.Title = in.typ, in.title
	} else {
		pr.Type, pr.Title = p.typeURI(code, c), titleFor(code)
	}
	if m != nil {
		if t := c.expand(m.Title); t != "" {
			pr.Title = t
		}
		if t := c.expand(m.Type); t != "" {
			pr.Type = t
		}
		if d := c.expand(m.Detail); d != "" {
			pr.Detail = d
		}
	}
	if !validURIReference(pr.Type) {
		// A placeholder expanded into something that is no URI.
		pr.Type = "about:blank"
	}

	desc := pr.Detail
	switch {
	case desc != "":
	case m == nil && code == codeForStatus(u.Status) && u.Status != 400 && u.Status != 401 && u.Status < 500:
		// A bare 404 or 405 is better told by its reason phrase than
		// as a malformed request.
		desc = http.StatusText(u.Status)
	}
	if pr.ErrorDescription = oauthText(desc, maxDescription); pr.ErrorDescription == "" {
		// Text of control characters alone leaves nothing to describe.
		pr.ErrorDescription = oauthText(descriptionFor(code), maxDescription)
	}
	return pr
}

// status is the status on the wire for code. RFC 6749 section 5.2:
// invalid_client is 401 with a challenge when the client used HTTP
// authentication, 400 otherwise.
func (p *Policy) status(upstream int, code string, basic bool) int {
	if p.KeepStatus || code != "invalid_client" {
		return upstream
	}
	if basic {
		return http.StatusUnauthorized
	}
	return http.StatusBadRequest
}

func codeForStatus(status int) string {
	switch {
	case status == http.StatusUnauthorized:
		return "invalid_client"
	case status == http.StatusServiceUnavailable, status == http.StatusGatewayTimeout:
		return "temporarily_unavailable"
	case status >= 500:
		return "server_error"
	default:
		return "invalid_request"
	}
}

// Titles are short and stable, like HTTP reason phrases.
var titles = map[string]string{
	"invalid_request":         "Invalid request",
	"invalid_client":          "Invalid client",
	"invalid_grant":           "Invalid grant",
	"unauthorized_client":     "Unauthorized client",
	"unsupported_grant_type":  "Unsupported grant type",
	"invalid_scope":           "Invalid scope",
	"server_error":            "Server error",
	"temporarily_unavailable": "Temporarily unavailable",
}

// descriptions say what each code of RFC 6749 section 5.2 means, for
// error_description when the upstream gave no text of its own.
var descriptions = map[string]string{
	"invalid_request":         "The token request is missing a parameter or is malformed",
	"invalid_client":          "Client authentication failed",
	"invalid_grant":           "The authorization grant is invalid, expired, revoked or was issued to another client",
	"unauthorized_client":     "The client may not use this grant type",
	"unsupported_grant_type":  "The grant type is not supported",
	"invalid_scope":           "The requested scope is invalid",
	"server_error":            "The token endpoint failed to answer the request",
	"temporarily_unavailable": "The token endpoint is temporarily unavailable",
}

func descriptionFor(code string) string {
	if d, ok := descriptions[code]; ok {
		return d
	}
	return titleFor(code)
}

// titleFor gives the title of code; a code of the operator's or the
// upstream's own becomes a phrase: "invalid_dpop_proof" gives
// "Invalid dpop proof".
func titleFor(code string) string {
	if t, ok := titles[code]; ok {
		return t
	}
	t := strings.ReplaceAll(code, "_", " ")
	if t != "" && 'a' <= t[0] && t[0] <= 'z' {
		t = string(t[0]-'a'+'A') + t[1:]
	}
	return t
}

// reading is what classify learned from a body.
type reading struct {
	shape    Shape
	text     string // the upstream's human-readable text, for mappings and `detail`
	error    string // an RFC 6749 `error` member
	errorURI string
	typ      string // `type` and `title`, kept when `error` is kept
	title    string
	traceID  string
	extra    []Member
}

// members the answer writes itself, so the upstream's are not copied.
var replaced = []string{"type", "title", "status", "detail", "error", "error_description", "error_uri", "traceId"}

// The members that carry an upstream's text, in order of preference.
var textMembers = []string{"detail", "error_description", "reason", "message", "title"}

func classify(u Upstream) reading {
	if u.Gateway {
		return reading{shape: ShapeGateway}
	}
	if u.Unread {
		return reading{shape: ShapeUnread}
	}
	body := bytes.TrimPrefix(u.Body, []byte("\xef\xbb\xbf"))
	body = bytes.TrimSpace(body)
	if len(body) == 0 || isStatusFallback(body) {
		return reading{shape: ShapeEmpty}
	}
	// Only the type and subtype matter, so no need for a full parse.
	mediaType, _, _ := strings.Cut(u.ContentType, ";")
	mediaType = strings.TrimSpace(mediaType)
	if isMarkupType(mediaType) || isMarkup(body) {
		return reading{shape: ShapeHTML}
	}

	// JSON is recognised by its first byte, whatever the label says.
	switch body[0] {
	case '{':
		var obj map[string]json.RawMessage
		if json.Unmarshal(body, &obj) == nil {
			return readObject(obj, mediaType, u.Status)
		}
	case '[', '"':
		var v any
		if json.Unmarshal(body, &v) == nil {
			in := reading{shape: ShapeJSON}
			if s, ok := v.(string); ok {
				in.text = cleanText(s)
			}
			return in
		}
	}
	return reading{shape: ShapeText, text: cleanText(string(body))}
}

func readObject(obj map[string]json.RawMessage, mediaType string, status int) reading {
	in := reading{shape: ShapeJSON}
	// str reads a string member; decoded once each, since a problem
	// asks for some members several times.
	strs := make(map[string]string, 8)
	str := func(name string) string {
		if s, ok := strs[name]; ok {
			return s
		}
		s := jsonString(obj[name])
		strs[name] = s
		return s
	}
	_, hasStatusCode := obj["status_code"]
	_, hasReason := obj["reason"]
	switch {
	case str("error") != "":
		in.shape = ShapeOAuth
	case hasStatusCode || hasReason:
		in.shape = ShapeReason
	case strings.EqualFold(mediaType, mediaProblem), str("type") != "", str("title") != "":
		in.shape = ShapeProblem
	}

	for _, name := range textMembers {
		if s := cleanText(str(name)); s != "" {
			in.text = s
			break
		}
	}
	// ASP.NET Core's bare problems carry only the reason phrase, which
	// the status already says.
	if in.text == http.StatusText(status) {
		in.text = ""
	}
	// Without `detail`, a description that is only the code's own
	// (see Normalize) says nothing of the upstream's.
	if str("detail") == "" && in.text == descriptionFor(str("error")) && str("error_description") == in.text {
		in.text = ""
	}
	if e := str("error"); validCode(e) {
		in.error = e
	} else if in.text == "" {
		in.text = cleanText(e)
	}
	if u := str("error_uri"); validURI(u) {
		in.errorURI = u
	}
	in.typ, in.title, in.traceID = str("type"), cleanText(str("title")), str("traceId")

	names := make([]string, 0, len(obj))
	for name := range obj {
		if slices.Contains(replaced, name) ||
			in.shape == ShapeReason && (name == "status_code" || name == "reason") {
			continue
		}
		if name == "instance" && !validURIReference(str(name)) {
			continue // RFC 9457 wants a URI reference; anything else is dropped
		}
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		in.extra = append(in.extra, Member{Name: name, Value: obj[name]})
	}
	return in
}

// jsonString decodes raw if it is a JSON string, and gives "" for
// anything else. Most strings have no escapes and need no decoder.
func jsonString(raw json.RawMessage) string {
	if len(raw) < 2 || raw[0] != '"' {
		return ""
	}
	if inner := raw[1 : len(raw)-1]; bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
		return string(inner)
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return ""
	}
	return s
}

// isStatusFallback recognises the text ASP.NET Core's status code pages
// write for a bodyless error: "Status Code: 404; Not Found".
func isStatusFallback(b []byte) bool {
	rest, ok := bytes.CutPrefix(b, []byte("Status Code: "))
	if !ok || len(rest) < 4 || rest[3] != ';' {
		return false
	}
	_, err := strconv.Atoi(string(rest[:3]))
	return err == nil && !bytes.ContainsAny(rest, "\r\n")
}

// isMarkup reports whether b looks like HTML or XML: it starts with a
// tag. Error pages come in many forms (a comment, an XML prolog, a bare
// <title>), and none of them is text a client should be shown.
func isMarkup[T string | []byte](b T) bool {
	return len(b) > 0 && b[0] == '<' && strings.IndexByte(string(b), '>') > 0
}

func isMarkupType(mediaType string) bool {
	mediaType = strings.ToLower(mediaType)
	return strings.Contains(mediaType, "html") || strings.Contains(mediaType, "xml")
}

// cleanText makes upstream text fit for `detail`: valid UTF-8, without
// NULs or the surrounding white space, and never markup.
func cleanText(s string) string {
	s = strings.TrimSpace(strings.ToValidUTF8(s, "\uFFFD"))
	if strings.IndexByte(s, 0) >= 0 {
		s = strings.ReplaceAll(s, "\x00", "")
	}
	if isMarkup(s) {
		return ""
	}
	return s
}

// maxDescription bounds error_description; the full text stays in
// `detail`.
const maxDescription = 256

// oauthText makes s fit RFC 6749's error_description: printable ASCII
// (%x20-21 / %x23-5B / %x5D-7E). Quotes and backslashes become their
// nearest allowed neighbours, control characters spaces, other runes
// '?'; runs of spaces collapse.
func oauthText(s string, max int) string {
	clean := len(s) <= max
	for i := 0; clean && i < len(s); i++ {
		clean = validDescriptionByte(s[i]) && !(s[i] == ' ' && (i == 0 || s[i-1] == ' '))
	}
	if clean && !strings.HasSuffix(s, " ") {
		return s
	}
	var b strings.Builder
	space := true // drop leading spaces
	for _, r := range s {
		if b.Len() >= max {
			break
		}
		switch {
		case r == '"':
			r = '\''
		case r == '\\':
			r = '/'
		case r < 0x20 || r == 0x7f || r == ' ':
			if !space {
				b.WriteByte(' ')
			}
			space = true
			continue
		case r > 0x7e:
			r = '?'
		}
		b.WriteRune(r)
		space = false
	}
	return strings.TrimRight(b.String(), " ")
}

func validDescriptionByte(c byte) bool {
	return c >= 0x20 && c <= 0x7e && c != '"' && c != '\\'
}

// validCode reports whether s may be an RFC 6749 `error` value (the
// same characters as error_description) and is short and plain enough
// to be a code rather than a sentence.
func validCode(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !validDescriptionByte(c) || c == ' ' {
			return false
		}
	}
	return true
}

// validURI reports whether s fits RFC 6749's error_uri characters
// (%x21 / %x23-5B / %x5D-7E) and is a web page a client may open.
func validURI(s string) bool {
	scheme, _, _ := strings.Cut(s, ":")
	return (strings.EqualFold(scheme, "https") || strings.EqualFold(scheme, "http")) &&
		validURIReference(s)
}

// validURIReference is a conservative check for an RFC 3986 URI
// reference: non-empty, printable ASCII without space, '"', '\', '<',
// '>' or '`'.
func validURIReference(s string) bool {
	if s == "" || len(s) > 2048 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= 0x20 || c >= 0x7f || strings.IndexByte("\"\\<>`{}|^", c) >= 0 {
			return false
		}
	}
	return true
}

// validTraceID accepts the W3C traceparent form ASP.NET Core writes:
// 00-<32 hex>-<16 hex>-<2 hex>.
func validTraceID(s string) bool {
	if len(s) != 55 || s[2] != '-' || s[35] != '-' || s[52] != '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if i == 2 || i == 35 || i == 52 {
			continue
		}
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	// Version ff and all-zero ids are invalid (W3C Trace Context).
	return s[:2] != "ff" && s[3:35] != "00000000000000000000000000000000" &&
		s[36:52] != "0000000000000000"
}

const hexDigits = "0123456789abcdef"

// newTraceID makes a trace id in traceparent form: the trace of the
// request's traceparent with a new span, as ASP.NET Core does, or a
// new trace.
func newTraceID(traceparent string) string {
	var b [55]byte
	if validTraceID(traceparent) {
		copy(b[:], traceparent)
	} else {
		copy(b[:], "00-")
		fillHex(b[3:35])
		b[35], b[52], b[53], b[54] = '-', '-', '0', '0'
	}
	fillHex(b[36:52])
	return string(b[:])
}

func fillHex(b []byte) {
	for i := 0; i < len(b); i += 16 {
		n := rand.Uint64()
		for j := i; j < len(b) && j < i+16; j++ {
			b[j] = hexDigits[n&0xf]
			n >>= 4
		}
	}
}

// AppendJSON appends the problem as one JSON object, members in a
// fixed order, so that the same problem always gives the same bytes.
func (pr *Problem) AppendJSON(b []byte) []byte {
	b = append(b, `{"type":`...)
	b = appendString(b, pr.Type)
	b = append(b, `,"title":`...)
	b = appendString(b, pr.Title)
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(pr.Status), 10)
	if pr.Detail != "" {
		b = append(b, `,"detail":`...)
		b = appendString(b, pr.Detail)
	}
	b = append(b, `,"error":`...)
	b = appendString(b, pr.Error)
	b = append(b, `,"error_description":`...)
	b = appendString(b, pr.ErrorDescription)
	if pr.ErrorURI != "" {
		b = append(b, `,"error_uri":`...)
		b = appendString(b, pr.ErrorURI)
	}
	b = append(b, `,"traceId":`...)
	b = appendString(b, pr.TraceID)
	for _, m := range pr.Extra {
		b = append(b, ',')
		b = appendString(b, m.Name)
		b = append(b, ':')
		b = appendValue(b, m.Value)
	}
	return append(b, '}')
}

// appendValue appends an upstream JSON value, compacted. Invalid UTF-8
// can only stand inside its strings, so replacing it keeps the value
// valid.
func appendValue(b []byte, v json.RawMessage) []byte {
	if !utf8.Valid(v) {
		v = bytes.ToValidUTF8(v, []byte("\uFFFD"))
	}
	buf := bytes.NewBuffer(b)
	if json.Compact(buf, v) != nil {
		return append(b, "null"...)
	}
	return buf.Bytes()
}

// plainASCII marks the bytes appendString copies as they are.
var plainASCII = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()

// appendString appends s as a JSON string. Like encoding/json it
// escapes control characters, '<', '>', '&' and U+2028/U+2029, and
// replaces invalid UTF-8 with U+FFFD.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if plainASCII[c] {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 || r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			if r == utf8.RuneError {
				b = append(b, `\ufffd`...)
			} else {
				b = append(b, `\u202`...)
				b = append(b, hexDigits[r&0xf])
			}
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
