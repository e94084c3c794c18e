package tokenerrors

import (
	"github.com/dustin/go-humanize"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("token_errors", parseCaddyfile)
	// After encode and before handle, so that a site-level line wraps
	// the site's handle blocks as well as a reverse_proxy, and a line
	// inside a handle block wraps the reverse_proxy beside it.
	httpcaddyfile.RegisterDirectiveOrder("token_errors", httpcaddyfile.After, "encode")
}

func parseCaddyfile(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	m := new(Handler)
	err := m.UnmarshalCaddyfile(h.Dispenser)
	return m, err
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens:
//
//	token_errors {
//		max_body             <size>
//		type_base            <uri>
//		realm                <realm>
//		media_type           negotiate|problem|json
//		keep_status
//		expose_server_errors
//		complete_token_response
//		map        <text>    <error> [<title> [<type> [<detail>]]]
//		map_regexp <pattern> <error> [<title> [<type> [<detail>]]]
//	}
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the directive's name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		switch d.Val() {
		case "max_body":
			if !d.NextArg() {
				return d.ArgErr()
			}
			n, err := humanize.ParseBytes(d.Val())
			if err != nil {
				return d.Errf("max_body: %q is not a size: %v", d.Val(), err)
			}
			if n == 0 || n > maxMaxBody {
				return d.Errf("max_body: %q must be more than 0 and at most 1GiB", d.Val())
			}
			h.MaxBody = int(n)
		case "type_base":
			if !d.AllArgs(&h.TypeBase) {
				return d.ArgErr()
			}
		case "realm":
			if !d.AllArgs(&h.Realm) {
				return d.ArgErr()
			}
		case "media_type":
			if !d.AllArgs(&h.MediaType) {
				return d.ArgErr()
			}
			switch h.MediaType {
			case "negotiate", "problem", "json":
			default:
				return d.Errf("media_type: %q is not one of negotiate, problem, json", h.MediaType)
			}
		case "keep_status":
			if d.NextArg() {
				return d.ArgErr()
			}
			h.KeepStatus = true
		case "complete_token_response":
			if d.NextArg() {
				return d.ArgErr()
			}
			h.CompleteTokenResponse = true
		case "expose_server_errors":
			if d.NextArg() {
				return d.ArgErr()
			}
			h.ExposeServerErrors = true
		case "map", "map_regexp":
			var mc MappingConfig
			exact := d.Val() == "map"
			args := d.RemainingArgs()
			if len(args) < 2 || len(args) > 5 {
				return d.ArgErr()
			}
			if exact {
				mc.Match = args[0]
			} else {
				mc.Regexp = args[0]
			}
			mc.Error = args[1]
			for i, field := range []*string{&mc.Title, &mc.Type, &mc.Detail} {
				if len(args) > i+2 {
					*field = args[i+2]
				}
			}
			h.Mappings = append(h.Mappings, mc)
		default:
			return d.Errf("unrecognized subdirective %q", d.Val())
		}
	}
	return nil
}

// Interface guard
var _ caddyfile.Unmarshaler = (*Handler)(nil)
