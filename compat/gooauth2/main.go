// Command gooauth2 drives golang.org/x/oauth2 against the stand-in and
// the gateway and prints one JSON line per outcome.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"runtime/debug"
	"syscall"

	"golang.org/x/oauth2"
)

const (
	clientID     = "demo-client"
	clientSecret = "demo-secret"
	redirectURI  = "https://localhost/callback"
)

// A case with no code redeems a fresh one from the authorization
// endpoint; reuse redeems it once before the request that counts.
var cases = []struct {
	name, id, secret, code string
	reuse                  bool
}{
	{name: "missing_client_id", secret: clientSecret},
	{name: "missing_client_secret", id: clientID},
	{name: "unknown_client_id", id: "no-such-client", secret: clientSecret},
	{name: "wrong_client_secret", id: clientID, secret: "wrong-secret"},
	{name: "bad_code", id: clientID, secret: clientSecret, code: "no-such-code"},
	{name: "reused_code", id: clientID, secret: clientSecret, reuse: true},
	{name: "success", id: clientID, secret: clientSecret},
	{name: "upstream_down", id: clientID, secret: clientSecret},
}

func main() {
	bases := map[string][2]string{
		"direct":                    {os.Getenv("COMPAT_DIRECT"), os.Getenv("COMPAT_DEAD")},
		"gateway":                   {os.Getenv("COMPAT_GATEWAY"), os.Getenv("COMPAT_DEAD_GATEWAY")},
		"gateway (media_type json)": {os.Getenv("COMPAT_JSON_GATEWAY"), os.Getenv("COMPAT_JSON_DEAD_GATEWAY")},
	}
	targets := []string{"direct", "gateway", "gateway (media_type json)"}
	for _, t := range targets {
		if bases[t][0] == "" || bases[t][1] == "" {
			fmt.Fprintln(os.Stderr, "set the COMPAT_ variables of every target, or use compat/run")
			os.Exit(2)
		}
	}
	styles := map[string]oauth2.AuthStyle{"basic": oauth2.AuthStyleInHeader, "body": oauth2.AuthStyleInParams}
	out := json.NewEncoder(os.Stdout)
	for _, target := range targets {
		for _, auth := range []string{"basic", "body"} {
			for _, c := range cases {
				base := bases[target][0]
				if c.name == "upstream_down" {
					base = bases[target][1]
				}
				conf := &oauth2.Config{
					ClientID:     c.id,
					ClientSecret: c.secret,
					RedirectURL:  redirectURI,
					Endpoint:     oauth2.Endpoint{TokenURL: base + "/api/oauth2/Token", AuthStyle: styles[auth]},
				}
				outcome, detail := exchange(conf, c.code, c.reuse)
				out.Encode(map[string]string{
					"library": "golang.org/x/oauth2", "version": version(),
					"target": target, "auth": auth, "case": c.name,
					"outcome": outcome, "detail": detail,
				})
			}
		}
	}
}

// exchange redeems code, or a fresh one, and says what the
// application saw.
func exchange(conf *oauth2.Config, code string, reuse bool) (outcome, detail string) {
	ctx := context.Background()
	if code == "" {
		var err error
		if code, err = freshCode(); err != nil {
			return "setup failed", err.Error()
		}
	}
	if reuse {
		// The first redemption spends the code, whatever the library
		// makes of the answer.
		_, _ = conf.Exchange(ctx, code)
	}
	tok, err := conf.Exchange(ctx, code)
	var re *oauth2.RetrieveError
	switch {
	case errors.As(err, &re) && re.ErrorCode != "":
		return re.ErrorCode, re.ErrorDescription
	case errors.As(err, &re):
		return "RetrieveError", fmt.Sprintf("%d, no code", re.Response.StatusCode)
	case errors.Is(err, syscall.ECONNREFUSED):
		return "ECONNREFUSED", fmt.Sprintf("%T", err)
	case err != nil:
		return fmt.Sprintf("%T", err), err.Error()
	case tok.Expiry.IsZero():
		return "token, no expiry", "type " + tok.Type()
	}
	return "token, expiry", "type " + tok.Type()
}

// freshCode asks the stand-in's authorization endpoint for a new code.
func freshCode() (string, error) {
	u := os.Getenv("COMPAT_DIRECT") + "/api/oauth2?" + url.Values{
		"client_id": {clientID}, "redirect_uri": {redirectURI},
	}.Encode()
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.Get(u)
	if err != nil {
		return "", err
	}
	res.Body.Close()
	loc, err := url.Parse(res.Header.Get("Location"))
	if err != nil || loc.Query().Get("code") == "" {
		return "", fmt.Errorf("authorization endpoint answered %s without a code", res.Status)
	}
	return loc.Query().Get("code"), nil
}

// version is the x/oauth2 version this binary was built with.
func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, m := range bi.Deps {
			if m.Path == "golang.org/x/oauth2" {
				return m.Version
			}
		}
	}
	return "unknown"
}
