package tokenerrors

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// The RFC 9457 Appendix A schema, compiled once.
var problemSchema = sync.OnceValues(func() (*jsonschema.Schema, error) {
	f, err := os.Open("testdata/problem-details.schema.json")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource("problem-details.schema.json", doc); err != nil {
		return nil, err
	}
	return c.Compile("problem-details.schema.json")
})

// CheckProblem fails t unless body is one answer of this module with
// the given status: valid against RFC 9457's schema, one JSON object,
// `status` equal to the status on the wire, `error` and
// `error_description` within RFC 6749's characters, and a traceId in
// traceparent form. It returns the decoded members.
func CheckProblem(t testing.TB, status int, body []byte) map[string]any {
	t.Helper()
	schema, err := problemSchema()
	if err != nil {
		t.Fatalf("loading the problem details schema: %v", err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("answer is not one JSON value: %v\n%s", err, body)
	}
	if err := schema.Validate(doc); err != nil {
		t.Fatalf("answer is not RFC 9457 problem details: %v\n%s", err, body)
	}
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil || dec.More() {
		t.Fatalf("answer is not exactly one JSON object: %v\n%s", err, body)
	}
	if got, _ := m["status"].(json.Number); got.String() != strconv.Itoa(status) {
		t.Errorf("status member %v, on the wire %d\n%s", m["status"], status, body)
	}
	for _, name := range []string{"error", "error_description"} {
		s, ok := m[name].(string)
		if !ok || s == "" {
			t.Errorf("member %s missing or not a string\n%s", name, body)
			continue
		}
		for i := 0; i < len(s); i++ {
			if !validDescriptionByte(s[i]) {
				t.Errorf("member %s has %q, outside RFC 6749's characters\n%s", name, s[i], body)
				break
			}
		}
	}
	if id, _ := m["traceId"].(string); !validTraceID(id) {
		t.Errorf("traceId %q is not in traceparent form\n%s", m["traceId"], body)
	}
	return m
}

// ReadCapture reads one of AIRisk's documented responses, as captured
// in internal/standin/responses: the response and its decoded body.
func ReadCapture(t testing.TB, name string) (*http.Response, []byte) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("internal/standin/responses", name))
	if err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(raw)), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, body
}
