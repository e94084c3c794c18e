// Command caddy is Caddy with the standard modules, the token_errors
// handler and the stand-in of the AIRisk token endpoint used by the
// offline demo and the tests.
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/airisk-gateway/tokenerrors"
	_ "github.com/airisk-gateway/tokenerrors/internal/standin"
)

func main() {
	caddycmd.Main()
}
