"""Drives a Python OAuth library against the stand-in and the gateway
and prints one JSON line per outcome.

  drive.py requests-oauthlib|authlib|msal
"""
import json
import logging
import os
import sys
import warnings
from importlib.metadata import version
from urllib.parse import parse_qs, urlencode, urlsplit

import requests

CLIENT_ID, CLIENT_SECRET = "demo-client", "demo-secret"
REDIRECT_URI = "https://localhost/callback"

# A case with no code redeems a fresh one from the authorization
# endpoint; reuse redeems it once before the request that counts.
CASES = [
    dict(name="missing_client_id", id="", secret=CLIENT_SECRET),
    dict(name="missing_client_secret", id=CLIENT_ID, secret=""),
    dict(name="unknown_client_id", id="no-such-client", secret=CLIENT_SECRET),
    dict(name="wrong_client_secret", id=CLIENT_ID, secret="wrong-secret"),
    dict(name="bad_code", id=CLIENT_ID, secret=CLIENT_SECRET, code="no-such-code"),
    dict(name="reused_code", id=CLIENT_ID, secret=CLIENT_SECRET, reuse=True),
    dict(name="success", id=CLIENT_ID, secret=CLIENT_SECRET),
    dict(name="upstream_down", id=CLIENT_ID, secret=CLIENT_SECRET),
]
BASES = {
    "direct": (os.environ["COMPAT_DIRECT"], os.environ["COMPAT_DEAD"]),
    "gateway": (os.environ["COMPAT_GATEWAY"], os.environ["COMPAT_DEAD_GATEWAY"]),
}


def requests_oauthlib(id, secret, code, token_url, auth):
    """Returns the token dict or raises what the library raised."""
    from requests_oauthlib import OAuth2Session
    s = OAuth2Session(id, redirect_uri=REDIRECT_URI)
    if auth == "basic":
        # Without include_client_id, the session authenticates with
        # HTTP Basic.
        return s.fetch_token(token_url, code=code, client_secret=secret)
    return s.fetch_token(token_url, code=code, client_secret=secret, include_client_id=True)


def authlib(id, secret, code, token_url, auth):
    from authlib.integrations.requests_client import OAuth2Session
    method = "client_secret_basic" if auth == "basic" else "client_secret_post"
    s = OAuth2Session(id, secret, token_endpoint_auth_method=method, redirect_uri=REDIRECT_URI)
    return s.fetch_token(token_url, code=code, grant_type="authorization_code")


def msal(id, secret, code, token_url, auth):
    """MSAL's OAuth 2.0 client, the layer under its applications, which
    need Azure AD or an OpenID discovery document. Its applications put
    the secret in the body; the client alone sends it in HTTP Basic."""
    from msal.oauth2cli import Client
    conf = {"token_endpoint": token_url}
    if auth == "basic":
        c = Client(conf, id, client_secret=secret)
    else:
        c = Client(conf, id, default_body={"client_secret": secret})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return c.obtain_token_by_authorization_code(code, redirect_uri=REDIRECT_URI)


def seen_token(tok):
    """What the application makes of what the library returned."""
    if tok.get("error"):
        return tok["error"], tok.get("error_description")
    if not tok.get("access_token"):
        return "dict without access_token", ", ".join(sorted(tok))
    expires = tok.get("expires_at") or tok.get("expires_in")
    return ("token, expiry" if expires else "token, no expiry"), f"token_type {tok.get('token_type')}"


def seen_error(err):
    from authlib.integrations.base_client import OAuthError
    from oauthlib.oauth2 import MissingTokenError, OAuth2Error
    if isinstance(err, requests.ConnectionError) and "Connection refused" in str(err):
        return "ECONNREFUSED", type(err).__name__
    if isinstance(err, OAuth2Error) and not isinstance(err, MissingTokenError):
        return err.error, err.description
    if isinstance(err, OAuthError):
        return err.error, err.description
    if isinstance(err, requests.HTTPError):
        return f"HTTPError {err.response.status_code}", str(err)
    return type(err).__name__, str(err)


def fresh_code():
    q = urlencode({"client_id": CLIENT_ID, "redirect_uri": REDIRECT_URI})
    res = requests.get(f"{os.environ['COMPAT_DIRECT']}/api/oauth2?{q}", allow_redirects=False)
    return parse_qs(urlsplit(res.headers.get("Location", "")).query)["code"][0]


def main(library):
    exchange = {"requests-oauthlib": requests_oauthlib, "authlib": authlib, "msal": msal}[library]
    package = {"requests-oauthlib": "requests-oauthlib", "authlib": "Authlib", "msal": "msal"}[library]
    # Both refuse plain HTTP unless told; the tests run on loopback.
    os.environ["OAUTHLIB_INSECURE_TRANSPORT"] = "1"
    os.environ["AUTHLIB_INSECURE_TRANSPORT"] = "1"
    # MSAL logs a traceback for every body that is not JSON.
    logging.disable(logging.CRITICAL)
    for target in ("direct", "gateway"):
        for auth in ("basic", "body"):
            for c in CASES:
                base = BASES[target][c["name"] == "upstream_down"]
                args = (c["id"], c["secret"])
                try:
                    code = c.get("code") or fresh_code()
                except Exception as err:
                    outcome, detail = "setup failed", repr(err)
                else:
                    token_url = base + "/api/oauth2/Token"
                    if c.get("reuse"):
                        # The first redemption spends the code, whatever
                        # the library makes of the answer.
                        try:
                            exchange(*args, code, token_url, auth)
                        except Exception:
                            pass
                    try:
                        outcome, detail = seen_token(exchange(*args, code, token_url, auth))
                    except Exception as err:
                        outcome, detail = seen_error(err)
                print(json.dumps(dict(
                    library=library, version=version(package), target=target, auth=auth,
                    case=c["name"], outcome=outcome, detail=" ".join(str(detail).split())[:200])))


if __name__ == "__main__":
    main(sys.argv[1])
