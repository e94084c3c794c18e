package tokenerrors

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/zstd"
)

// Errors of decodeBody, kept apart so that logs and metrics can say
// which one it was.
var (
	errTooLarge    = errors.New("body over the limit")
	errUnsupported = errors.New("content encoding not supported")
)

// decodeBody undoes the Content-Encoding list enc on body, reading at
// most limit decoded bytes, so a small compressed body cannot expand
// past what a plain one may hold.
func decodeBody(body []byte, enc string, limit int) ([]byte, error) {
	for enc != "" {
		// Codings are listed in the order they were applied.
		var coding string
		if i := strings.LastIndexByte(enc, ','); i >= 0 {
			enc, coding = enc[:i], enc[i+1:]
		} else {
			enc, coding = "", enc
		}
		coding = strings.ToLower(strings.TrimSpace(coding))
		if coding == "" || coding == "identity" {
			continue
		}
		var err error
		if body, err = decodeOne(body, coding, limit); err != nil {
			return nil, err
		}
	}
	return body, nil
}

func decodeOne(body []byte, coding string, limit int) ([]byte, error) {
	var r io.Reader
	switch coding {
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		r = zr
	case "deflate":
		// RFC 9110 deflate is zlib-wrapped; some servers send it raw.
		zr, err := zlib.NewReader(bytes.NewReader(body))
		if err != nil {
			r = flate.NewReader(bytes.NewReader(body))
		} else {
			r = zr
		}
	case "br":
		r = brotli.NewReader(bytes.NewReader(body))
	case "zstd":
		zr, err := zstd.NewReader(bytes.NewReader(body),
			zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true),
			zstd.WithDecoderMaxMemory(uint64(limit)+1))
		if err != nil {
			return nil, fmt.Errorf("zstd: %w", err)
		}
		defer zr.Close()
		r = zr
	default:
		return nil, fmt.Errorf("%w: %q", errUnsupported, coding)
	}
	out, err := io.ReadAll(io.LimitReader(r, int64(limit)+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", coding, err)
	}
	if len(out) > limit {
		return nil, errTooLarge
	}
	return out, nil
}
