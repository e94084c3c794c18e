package tokenerrors

import "testing"

func TestNegotiateMediaType(t *testing.T) {
	for accept, want := range map[string]string{
		"":                            mediaProblem,
		"*/*":                         mediaProblem,
		"application/json":            mediaJSON,
		"Application/JSON":            mediaJSON,
		"application/json, */*":       mediaJSON, // same q, named, and problem+json is not
		"application/json;q=0.5, */*": mediaProblem,
		"application/problem+json, application/json":           mediaProblem,
		"application/json;q=1, application/problem+json;q=0.9": mediaJSON,
		"application/json;q=0":                                 mediaProblem,
		"application/json;q=NaN":                               mediaJSON, // malformed q counts as 1
		"application/json;q=2":                                 mediaJSON,
		"application/*":                                        mediaProblem,
		"application/*+json":                                   mediaProblem,
		"text/html":                                            mediaProblem,
		"text/html, application/xhtml+xml":                     mediaProblem,
	} {
		if got := negotiate(accept); got != want {
			t.Errorf("negotiate(%q) = %s, want %s", accept, got, want)
		}
	}
}
