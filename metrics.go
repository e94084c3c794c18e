package tokenerrors

import (
	"errors"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// The module's metrics, served with Caddy's own on the admin
// endpoint's /metrics. They are package-level so that counts carry
// over config reloads and several token_errors instances add up.
var (
	rewrittenTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "caddy",
		Subsystem: "http",
		Name:      "token_errors_rewritten_total",
		Help:      "Error responses rewritten into problem details, by final status, RFC 6749 error code and the upstream's body shape.",
	}, []string{"status", "error", "shape"})

	unreadTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "caddy",
		Subsystem: "http",
		Name:      "token_errors_unread_bodies_total",
		Help:      "Upstream error bodies answered without their text, by reason: over_limit or undecodable.",
	}, []string{"reason"})
)

// registerMetrics adds the module's collectors to a config load's
// registry. Each load has a new registry, and every token_errors
// instance of a load registers; the second time is not an error.
func registerMetrics(reg *prometheus.Registry) error {
	if reg == nil {
		return nil
	}
	for _, c := range []prometheus.Collector{rewrittenTotal, unreadTotal} {
		var already prometheus.AlreadyRegisteredError
		if err := reg.Register(c); err != nil && !errors.As(err, &already) {
			return err
		}
	}
	return nil
}

// codeLabel bounds the error label: a code the upstream made up is
// counted as "other", so an upstream cannot grow the metric's series.
func (h *Handler) codeLabel(code string) string {
	if _, ok := h.codeLabels[code]; ok {
		return code
	}
	return "other"
}

// statusLabels are the texts of the statuses an answer can have.
var statusLabels = func() (s [600]string) {
	for i := 400; i < len(s); i++ {
		s[i] = strconv.Itoa(i)
	}
	return s
}()
