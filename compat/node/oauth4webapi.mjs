import * as oauth from 'oauth4webapi';

import { REDIRECT_URI, drive } from './common.mjs';

async function exchange({ id, secret, code, base, auth }) {
  const as = { issuer: base, token_endpoint: `${base}/api/oauth2/Token` };
  const client = { client_id: id };
  const clientAuth = auth === 'basic' ? oauth.ClientSecretBasic(secret) : oauth.ClientSecretPost(secret);
  const params = oauth.validateAuthResponse(as, client, new URL(`${REDIRECT_URI}?code=${code}`), oauth.skipStateCheck);
  const res = await oauth.authorizationCodeGrantRequest(as, client, clientAuth, params, REDIRECT_URI, oauth.nopkce, {
    [oauth.allowInsecureRequests]: true,
  });
  const tok = await oauth.processAuthorizationCodeResponse(as, client, res);
  return { expires: tok.expires_in !== undefined, detail: `token_type ${tok.token_type}` };
}

function classify(err) {
  if (String(err.code).startsWith('ERR_INVALID_ARG')) {
    return { outcome: 'n/a', detail: `refuses to send: ${err.message}` };
  }
  if (err instanceof oauth.ResponseBodyError) {
    return { outcome: err.error, detail: err.error_description };
  }
  if (err instanceof oauth.WWWAuthenticateChallengeError) {
    return { outcome: 'WWWAuthenticateChallengeError', detail: `${err.status} ${err.cause.map((c) => c.scheme).join(',')}` };
  }
  if (err instanceof oauth.OperationProcessingError && !String(err.cause?.code).startsWith('E')) {
    return { outcome: 'OperationProcessingError', detail: err.message };
  }
  return undefined;
}

await drive('oauth4webapi', 'oauth4webapi', exchange, classify);
