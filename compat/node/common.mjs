// What every Node driver shares: the cases, the targets, fresh codes
// from the stand-in, and one JSON line per outcome.
import { readFileSync } from 'node:fs';

export const CLIENT_ID = 'demo-client';
export const CLIENT_SECRET = 'demo-secret';
export const REDIRECT_URI = 'https://localhost/callback';

// A case with no code redeems a fresh one from the authorization
// endpoint; reuse redeems it once before the request that counts.
const CASES = [
  { name: 'missing_client_id', id: '', secret: CLIENT_SECRET },
  { name: 'missing_client_secret', id: CLIENT_ID, secret: '' },
  { name: 'unknown_client_id', id: 'no-such-client', secret: CLIENT_SECRET },
  { name: 'wrong_client_secret', id: CLIENT_ID, secret: 'wrong-secret' },
  { name: 'bad_code', id: CLIENT_ID, secret: CLIENT_SECRET, code: 'no-such-code' },
  { name: 'reused_code', id: CLIENT_ID, secret: CLIENT_SECRET, reuse: true },
  { name: 'success', id: CLIENT_ID, secret: CLIENT_SECRET },
  { name: 'upstream_down', id: CLIENT_ID, secret: CLIENT_SECRET },
];

const env = process.env;
if (!env.COMPAT_DIRECT || !env.COMPAT_GATEWAY || !env.COMPAT_DEAD || !env.COMPAT_DEAD_GATEWAY) {
  throw new Error('set COMPAT_DIRECT, COMPAT_GATEWAY, COMPAT_DEAD and COMPAT_DEAD_GATEWAY, or use compat/run');
}
const BASES = {
  direct: [env.COMPAT_DIRECT, env.COMPAT_DEAD],
  gateway: [env.COMPAT_GATEWAY, env.COMPAT_DEAD_GATEWAY],
};

// drive runs every case through exchange, which redeems a code and
// resolves to { expires, detail } or throws what the library threw;
// classify names what the application saw in such an error, or
// returns undefined to fall back to the error's class.
export async function drive(library, pkg, exchange, classify) {
  const version = installedVersion(pkg);
  for (const target of ['direct', 'gateway']) {
    for (const auth of ['basic', 'body']) {
      for (const c of CASES) {
        const base = BASES[target][c.name === 'upstream_down' ? 1 : 0];
        const seen = await attempt({ ...c, base, auth }, exchange, classify);
        console.log(JSON.stringify({ library, version, target, auth, case: c.name, ...seen }));
      }
    }
  }
}

async function attempt(c, exchange, classify) {
  let code = c.code;
  try {
    code ??= await freshCode();
  } catch (err) {
    return { outcome: 'setup failed', detail: String(err) };
  }
  if (c.reuse) {
    // The first redemption spends the code, whatever the library
    // makes of the answer.
    await exchange({ ...c, code }).catch(() => {});
  }
  let seen;
  try {
    const tok = await exchange({ ...c, code });
    seen = { outcome: tok.expires ? 'token, expiry' : 'token, no expiry', detail: tok.detail };
  } catch (err) {
    seen = refused(err) ?? classify(err) ?? { outcome: err.name || err.constructor.name, detail: err.message };
  }
  return { outcome: seen.outcome, detail: String(seen.detail).replace(/\s+/g, ' ').slice(0, 200) };
}

function refused(err) {
  for (let e = err; e; e = e.cause) {
    if (e.code === 'ECONNREFUSED' || e.errors?.some((x) => x.code === 'ECONNREFUSED')) {
      return { outcome: 'ECONNREFUSED', detail: err.name || err.constructor.name };
    }
  }
  return undefined;
}

async function freshCode() {
  const q = new URLSearchParams({ client_id: CLIENT_ID, redirect_uri: REDIRECT_URI });
  const res = await fetch(`${env.COMPAT_DIRECT}/api/oauth2?${q}`, { redirect: 'manual' });
  const code = new URL(res.headers.get('location') ?? 'x:').searchParams.get('code');
  if (!code) throw new Error(`authorization endpoint answered ${res.status} without a code`);
  return code;
}

function installedVersion(pkg) {
  const url = new URL(`../node_modules/${pkg}/package.json`, import.meta.url);
  return JSON.parse(readFileSync(url, 'utf8')).version;
}
