package tokenerrors

import (
	"io"
	"net/http"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// captureWriter decides at WriteHeader whether a response is an error
// to rewrite. An error's body is held, up to limit bytes, and never
// reaches the client; anything else goes straight through.
//
// It does the job of caddyhttp.ResponseRecorder, which cannot be used
// here: the recorder buffers without limit, and an upstream error body
// must cost at most limit bytes whatever its size.
type captureWriter struct {
	caddyhttp.ResponseWriterWrapper

	limit       int
	status      int
	wroteHeader bool
	capturing   bool
	over        bool // more than limit bytes were written
	buf         []byte
}

// isError reports whether a response of this status is rewritten:
// 400 to 599, except 499, Caddy's record of a client that went away.
func isError(status int) bool {
	return status >= 400 && status <= 599 && status != 499
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
	if isError(status) {
		cw.capturing = true
		return
	}
	cw.ResponseWriter.WriteHeader(status)
}

func (cw *captureWriter) Write(p []byte) (int, error) {
	if !cw.wroteHeader {
		cw.WriteHeader(http.StatusOK)
	}
	if !cw.capturing {
		return cw.ResponseWriter.Write(p)
	}
	if room := cw.limit - len(cw.buf); len(p) > room {
		cw.over = true
		if room > 0 {
			cw.buf = append(cw.buf, p[:room]...)
		}
		// Report the bytes as written so the upstream is drained, not
		// cut off with an error.
		return len(p), nil
	}
	cw.buf = append(cw.buf, p...)
	return len(p), nil
}

// ReadFrom keeps the fast path of the underlying writer for streamed
// responses; a captured body goes through Write and its limit.
func (cw *captureWriter) ReadFrom(r io.Reader) (int64, error) {
	if !cw.wroteHeader {
		cw.WriteHeader(http.StatusOK)
	}
	if !cw.capturing {
		return cw.ResponseWriterWrapper.ReadFrom(r)
	}
	return io.Copy(writerOnly{cw}, r)
}

// writerOnly hides ReadFrom so io.Copy does not call back into it.
type writerOnly struct{ io.Writer }

// FlushError flushes a streamed response. It holds back flushes of a
// captured response and of one whose status is not known yet, since
// flushing would send headers that are not final.
func (cw *captureWriter) FlushError() error {
	if cw.capturing || !cw.wroteHeader {
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
