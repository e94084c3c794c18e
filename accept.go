package tokenerrors

import (
	"strconv"
	"strings"
)

// The two media types an answer may have. The body is the same; only
// the label changes.
const (
	mediaProblem = "application/problem+json"
	mediaJSON    = "application/json"
)

// negotiate picks the answer's media type from an Accept header:
// application/json when the client prefers it, by a higher q, or at
// the same q by naming it while application/problem+json is only
// covered by a wildcard (RFC 9110 section 12.5.1: the most specific
// range gives each type its q); application/problem+json otherwise, including for no Accept, "*/*", or types we cannot serve.
// It never refuses: a token error is better than a 406.
func negotiate(accept string) string {
	if accept == "" {
		return mediaProblem
	}
	// For each type: the q of the most specific range that covers it,
	// and whether it was named exactly.
	var problem, json struct {
		q, specificity int
		named          bool
	}
	problem.specificity, json.specificity = -1, -1
	for accept != "" {
		var rng string
		rng, accept, _ = strings.Cut(accept, ",")
		typ, params, _ := strings.Cut(rng, ";")
		typ = strings.ToLower(strings.TrimSpace(typ))
		q := qValue(params)

		var forProblem, forJSON int = -1, -1
		switch typ {
		case mediaProblem:
			forProblem = 2
		case mediaJSON:
			forJSON = 2
		case "application/*":
			forProblem, forJSON = 1, 1
		case "*/*":
			forProblem, forJSON = 0, 0
		}
		if forProblem > problem.specificity {
			problem.q, problem.specificity = q, forProblem
			problem.named = forProblem == 2
		}
		if forJSON > json.specificity {
			json.q, json.specificity = q, forJSON
			json.named = forJSON == 2
		}
	}
	if json.specificity >= 0 && json.q > 0 &&
		(json.q > problem.q || json.q == problem.q && json.named && !problem.named) {
		return mediaJSON
	}
	return mediaProblem
}

// qValue reads the q parameter of a media range in thousandths;
// absent or malformed, it is 1000 (RFC 9110 section 12.4.2).
func qValue(params string) int {
	for params != "" {
		var p string
		p, params, _ = strings.Cut(params, ";")
		name, value, ok := strings.Cut(p, "=")
		if !ok || !strings.EqualFold(strings.TrimSpace(name), "q") {
			continue
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if err != nil || !(f >= 0 && f <= 1) { // NaN too
			return 1000
		}
		return int(f*1000 + 0.5)
	}
	return 1000
}
