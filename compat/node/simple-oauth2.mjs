import { AuthorizationCode } from 'simple-oauth2';

import { REDIRECT_URI, drive } from './common.mjs';

async function exchange({ id, secret, code, base, auth }) {
  const client = new AuthorizationCode({
    client: { id, secret },
    auth: { tokenHost: base, tokenPath: '/api/oauth2/Token' },
    options: { authorizationMethod: auth === 'basic' ? 'header' : 'body' },
  });
  const tok = await client.getToken({ code, redirect_uri: REDIRECT_URI });
  return { expires: tok.token.expires_at !== undefined, detail: `token_type ${tok.token.token_type}` };
}

// simple-oauth2 reads no error member itself: the application finds
// the parsed body in err.data.payload.
function classify(err) {
  if (!err.isBoom) return undefined;
  const payload = err.data?.payload;
  const status = err.output.statusCode;
  if (payload && typeof payload === 'object' && !Buffer.isBuffer(payload) && payload.error) {
    return { outcome: payload.error, detail: `${status} ${payload.error_description}` };
  }
  return { outcome: `Boom ${status}`, detail: err.message };
}

await drive('simple-oauth2', 'simple-oauth2', exchange, classify);
