// Command upstream is the token endpoint the load comparison puts
// behind every gateway: as fast as net/http allows, so that the
// gateways, not the upstream, are what differ.
//
// POST or GET /ok answers 200 with a token response; /err answers the
// documented 400 with the text/plain body "Invalid Code". The real
// upstream sends these chunked; this one sends a Content-Length, which
// is cheaper to read and the same for every gateway.
package main

import (
	"flag"
	"io"
	"log"
	"net/http"
	"strconv"
)

var (
	okBody  = []byte(`{"access_token":"QK2MFB6OAQUX3J4ZRNSBLUH4WFTRJ4GXSQHI5X4TX7NNYDGU6FNA","expiration":"2025-03-27T20:17:38Z"}`)
	errBody = []byte("Invalid Code")

	okHeader = http.Header{
		"Content-Type":   {"application/json; charset=utf-8"},
		"Content-Length": {strconv.Itoa(len(okBody))},
	}
	errHeader = http.Header{
		"Content-Type":   {"text/plain; charset=utf-8"},
		"Content-Length": {strconv.Itoa(len(errBody))},
	}
)

func main() {
	addr := flag.String("addr", "127.0.0.1:28090", "address to listen on")
	flag.Parse()
	log.Fatal(http.ListenAndServe(*addr, http.HandlerFunc(serve)))
}

func serve(w http.ResponseWriter, r *http.Request) {
	// Read the request body, as a token endpoint reads the form.
	_, _ = io.Copy(io.Discard, r.Body)

	status, hdr, body := http.StatusNotFound, http.Header(nil), []byte(nil)
	switch r.URL.Path {
	case "/ok":
		status, hdr, body = http.StatusOK, okHeader, okBody
	case "/err":
		status, hdr, body = http.StatusBadRequest, errHeader, errBody
	}
	for k, v := range hdr {
		w.Header()[k] = v
	}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
