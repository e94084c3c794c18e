package standin

import (
	"net/http"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func init() {
	caddy.RegisterModule(Handler{})
	httpcaddyfile.RegisterHandlerDirective("airisk_standin", func(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
		h.Next() // the directive's name
		if h.NextArg() {
			return nil, h.ArgErr()
		}
		return new(Handler), nil
	})
	httpcaddyfile.RegisterDirectiveOrder("airisk_standin", httpcaddyfile.Before, "respond")
}

// Handler serves the stand-in of the AIRisk token endpoint. It ends
// the chain: it never calls the next handler. Each config load starts
// with a new stand-in, DemoCode unused again.
type Handler struct {
	srv *Server
}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.airisk_standin",
		New: func() caddy.Module { return new(Handler) },
	}
}

// Provision creates the stand-in.
func (h *Handler) Provision(caddy.Context) error {
	h.srv = New()
	return nil
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	h.srv.ServeHTTP(w, r)
	return nil
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
)
