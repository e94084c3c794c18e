import openid from 'openid-client-5';

import { REDIRECT_URI, drive } from './common.mjs';

const { Issuer, errors } = openid;

async function exchange({ id, secret, code, base, auth }) {
  const issuer = new Issuer({
    issuer: base,
    token_endpoint: `${base}/api/oauth2/Token`,
    token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
  });
  const c = new issuer.Client({
    client_id: id,
    client_secret: secret,
    token_endpoint_auth_method: auth === 'basic' ? 'client_secret_basic' : 'client_secret_post',
  });
  const tok = await c.oauthCallback(REDIRECT_URI, { code });
  return { expires: tok.expires_at !== undefined, detail: `token_type ${tok.token_type}` };
}

function classify(err) {
  if (err instanceof TypeError && /required/.test(err.message)) {
    return { outcome: 'n/a', detail: `refuses to send: ${err.message}` };
  }
  // Without an `error` member, OPError holds the status line in `error`.
  if (err instanceof errors.OPError && /^[a-z_]+$/.test(err.error)) {
    return { outcome: err.error, detail: err.error_description };
  }
  if (err instanceof errors.OPError) {
    return { outcome: 'OPError, no code', detail: err.error };
  }
  if (err instanceof errors.RPError) {
    return { outcome: 'RPError', detail: err.message };
  }
  return undefined;
}

await drive('openid-client', 'openid-client-5', exchange, classify);
