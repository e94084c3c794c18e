package tokenerrors

import (
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// captureWriter decides at WriteHeader whether a response is one to
// rewrite. Such a response's body is held, up to limit bytes, and does
// not reach the client until the handler has read it; anything else
// goes straight through.
//
// It does the job of caddyhttp.ResponseRecorder, which cannot be used
// here: the recorder buffers without limit, and an upstream body must
// cost at most limit bytes whatever its size.
type captureWriter struct {
	caddyhttp.ResponseWriterWrapper

	limit int
	// tokens is set when 2xx JSON bodies are held too, to complete
	// token responses.
	tokens bool

	status      int
	wroteHeader bool
	mode        captureMode
	over        bool // an error body had more than limit bytes
	buf         []byte
}

type captureMode uint8

const (
	streaming captureMode = iota
	holdError             // an error: held, up to limit, never sent as is
	holdToken             // a 2xx JSON body: held while it fits, else streamed
)

// isError reports whether a response of this status is rewritten:
// 400 to 599, except 499, Caddy's record of a client that went away.
func isError(status int) bool {
	return status >= 400 && status <= 599 && status != 499
}

// isTokenResponse reports whether a 2xx response may be a token
// response to complete: plain JSON, not encoded.
func isTokenResponse(status int, h http.Header) bool {
	if status < 200 || status > 299 || status == http.StatusNoContent {
		return false
	}
	if enc := h.Get("Content-Encoding"); enc != "" && !strings.EqualFold(enc, "identity") {
		return false
	}
	mt, _, _ := mime.ParseMediaType(h.Get("Content-Type"))
	return mt == "application/json"
}

func (cw *captureWriter) WriteHeader(status int) {
	if cw.wroteHeader {
		return
	}
	if status >= 100 && status <= 199 {
		// Informational responses are not final; 103 Early Hints
		// before an error must still reach the client.
		cw.ResponseWriter.WriteHeader(status)
		return
	}
	cw.wroteHeader = true
	cw.status = status
	switch {
	case isError(status):
		cw.mode = holdError
	case cw.tokens && isTokenResponse(status, cw.Header()):
		cw.mode = holdToken
	default:
		cw.ResponseWriter.WriteHeader(status)
	}
}

func (cw *captureWriter) Write(p []byte) (int, error) {
	if !cw.wroteHeader {
		cw.WriteHeader(http.StatusOK)
	}
	if cw.mode == streaming {
		return cw.ResponseWriter.Write(p)
	}
	if cw.over {
		return len(p), nil
	}
	if n := len(cw.buf) + len(p); n <= cw.limit {
		if cw.buf == nil {
			cw.buf = getBuffer()
		}
		if n > cap(cw.buf) {
			// Grow as append would, but never past the limit.
			grown := make([]byte, 0, min(cw.limit, max(n, 2*cap(cw.buf))))
			cw.buf = append(grown, cw.buf...)
		}
		cw.buf = append(cw.buf, p...)
		return len(p), nil
	}
	if cw.mode == holdToken {
		// Too large to be a token response: send what is held and
		// stream the rest, untouched.
		if err := cw.release(); err != nil {
			return 0, err
		}
		return cw.ResponseWriter.Write(p)
	}
	// Past the limit the body is answered without its text, so what
	// is held can go at once; the rest is drained, not cut off with an
	// error, so the upstream connection stays usable.
	cw.over = true
	cw.buf = nil
	return len(p), nil
}

// release sends a held response as it came and streams from then on.
func (cw *captureWriter) release() error {
	cw.mode = streaming
	cw.ResponseWriter.WriteHeader(cw.status)
	_, err := cw.ResponseWriter.Write(cw.buf)
	cw.buf = nil
	return err
}

// ReadFrom keeps the fast path of the underlying writer for streamed
// responses; a held body goes through Write and its limit.
func (cw *captureWriter) ReadFrom(r io.Reader) (int64, error) {
	if !cw.wroteHeader {
		cw.WriteHeader(http.StatusOK)
	}
	if cw.mode == streaming {
		return cw.ResponseWriterWrapper.ReadFrom(r)
	}
	return io.Copy(writerOnly{cw}, r)
}

// writerOnly hides ReadFrom so io.Copy does not call back into it.
type writerOnly struct{ io.Writer }

// FlushError flushes a streamed response. It holds back flushes of a
// held response and of one whose status is not known yet, since
// flushing would send headers that are not final.
func (cw *captureWriter) FlushError() error {
	if cw.mode != streaming || !cw.wroteHeader {
		return nil
	}
	//nolint:bodyclose
	return http.NewResponseController(cw.ResponseWriter).Flush()
}

// Flush is FlushError for callers that look for http.Flusher.
func (cw *captureWriter) Flush() { _ = cw.FlushError() }

// Interface guards
var (
	_ http.ResponseWriter = (*captureWriter)(nil)
	_ http.Flusher        = (*captureWriter)(nil)
	_ io.ReaderFrom       = (*captureWriter)(nil)
)
