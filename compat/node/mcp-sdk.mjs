import { exchangeAuthorization } from '@modelcontextprotocol/sdk/client/auth.js';
import { OAuthError, ServerError } from '@modelcontextprotocol/sdk/server/auth/errors.js';

import { REDIRECT_URI, drive } from './common.mjs';

// exchangeAuthorization sends the token request and reads an error
// response with parseErrorResponse.
async function exchange({ id, secret, code, base, auth }) {
  const tok = await exchangeAuthorization(base, {
    metadata: {
      issuer: base,
      authorization_endpoint: `${base}/api/oauth2`,
      token_endpoint: `${base}/api/oauth2/Token`,
      response_types_supported: ['code'],
    },
    clientInformation: {
      client_id: id,
      client_secret: secret,
      token_endpoint_auth_method: auth === 'basic' ? 'client_secret_basic' : 'client_secret_post',
    },
    authorizationCode: code,
    codeVerifier: 'v'.repeat(43),
    redirectUri: REDIRECT_URI,
  });
  return { expires: tok.expires_in !== undefined, detail: `token_type ${tok.token_type}` };
}

function classify(err) {
  if (/requires a client_secret/.test(err.message)) {
    return { outcome: 'n/a', detail: `refuses to send: ${err.message}` };
  }
  // parseErrorResponse answers a body without an RFC 6749 `error` with
  // a ServerError that holds the raw body.
  if (err instanceof ServerError && /Raw body/.test(err.message)) {
    return { outcome: 'ServerError (raw body)', detail: err.message.slice(0, 200) };
  }
  if (err instanceof OAuthError) {
    return { outcome: err.errorCode, detail: `${err.constructor.name}: ${err.message}` };
  }
  return undefined;
}

await drive('@modelcontextprotocol/sdk', '@modelcontextprotocol/sdk', exchange, classify);
