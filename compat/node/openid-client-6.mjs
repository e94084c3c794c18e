import * as client from 'openid-client';

import { REDIRECT_URI, drive } from './common.mjs';

async function exchange({ id, secret, code, base, auth }) {
  const as = { issuer: base, token_endpoint: `${base}/api/oauth2/Token` };
  const clientAuth = auth === 'basic' ? client.ClientSecretBasic(secret) : client.ClientSecretPost(secret);
  const config = new client.Configuration(as, id, undefined, clientAuth);
  client.allowInsecureRequests(config);
  const tok = await client.authorizationCodeGrant(config, new URL(`${REDIRECT_URI}?code=${code}`));
  return { expires: tok.expiresIn() !== undefined, detail: `token_type ${tok.token_type}` };
}

function classify(err) {
  if (String(err.code).startsWith('ERR_INVALID_ARG')) {
    return { outcome: 'n/a', detail: `refuses to send: ${err.message}` };
  }
  if (err instanceof client.ResponseBodyError) {
    return { outcome: err.error, detail: err.error_description };
  }
  if (err instanceof client.WWWAuthenticateChallengeError) {
    return { outcome: 'WWWAuthenticateChallengeError', detail: `${err.status} ${err.cause.map((c) => c.scheme).join(',')}` };
  }
  if (err instanceof client.ClientError) {
    return { outcome: 'ClientError', detail: `${err.code}: ${err.message}` };
  }
  return undefined;
}

await drive('openid-client', 'openid-client', exchange, classify);
