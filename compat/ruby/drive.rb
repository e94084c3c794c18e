# Drives the oauth2 gem against the stand-in and the gateway and prints
# one JSON line per outcome.
require 'json'
require 'net/http'
require 'oauth2'
require 'oauth2/version'

CLIENT_ID = 'demo-client'.freeze
CLIENT_SECRET = 'demo-secret'.freeze
REDIRECT_URI = 'https://localhost/callback'.freeze

# A case with no code redeems a fresh one from the authorization
# endpoint; reuse redeems it once before the request that counts.
CASES = [
  { name: 'missing_client_id', id: '', secret: CLIENT_SECRET },
  { name: 'missing_client_secret', id: CLIENT_ID, secret: '' },
  { name: 'unknown_client_id', id: 'no-such-client', secret: CLIENT_SECRET },
  { name: 'wrong_client_secret', id: CLIENT_ID, secret: 'wrong-secret' },
  { name: 'bad_code', id: CLIENT_ID, secret: CLIENT_SECRET, code: 'no-such-code' },
  { name: 'reused_code', id: CLIENT_ID, secret: CLIENT_SECRET, reuse: true },
  { name: 'success', id: CLIENT_ID, secret: CLIENT_SECRET },
  { name: 'upstream_down', id: CLIENT_ID, secret: CLIENT_SECRET }
].freeze

BASES = {
  'direct' => [ENV.fetch('COMPAT_DIRECT'), ENV.fetch('COMPAT_DEAD')],
  'gateway' => [ENV.fetch('COMPAT_GATEWAY'), ENV.fetch('COMPAT_DEAD_GATEWAY')],
  'gateway (media_type json)' => [ENV.fetch('COMPAT_JSON_GATEWAY'), ENV.fetch('COMPAT_JSON_DEAD_GATEWAY')]
}.freeze

# The token URL is absolute: a path would be resolved against the
# site's root, dropping any path the base has.
def exchange(c, code, base, auth)
  client = OAuth2::Client.new(c[:id], c[:secret],
                              site: base, token_url: "#{base}/api/oauth2/Token",
                              auth_scheme: auth == 'basic' ? :basic_auth : :request_body)
  client.auth_code.get_token(code, redirect_uri: REDIRECT_URI)
end

def seen(c, base, auth)
  code = c[:code] || fresh_code
  if c[:reuse]
    # The first redemption spends the code, whatever the library makes
    # of the answer.
    begin
      exchange(c, code, base, auth)
    rescue StandardError
      nil
    end
  end
  tok = exchange(c, code, base, auth)
  [tok.expires? ? 'token, expiry' : 'token, no expiry', "token_type #{tok.params['token_type']}"]
rescue OAuth2::Error => e
  return [e.code, e.description] if e.code

  ['OAuth2::Error, no code', "#{e.response.status} #{e.response.headers['content-type']}"]
rescue Faraday::ConnectionFailed => e
  raise unless e.wrapped_exception.is_a?(Errno::ECONNREFUSED)

  ['ECONNREFUSED', e.class.name]
end

def fresh_code
  q = URI.encode_www_form(client_id: CLIENT_ID, redirect_uri: REDIRECT_URI)
  res = Net::HTTP.get_response(URI("#{ENV.fetch('COMPAT_DIRECT')}/api/oauth2?#{q}"))
  URI.decode_www_form(URI(res['location']).query).to_h.fetch('code')
end

version = OAuth2::Version.to_s
BASES.each do |target, (live, dead)|
  %w[basic body].each do |auth|
    CASES.each do |c|
      outcome, detail = seen(c, c[:name] == 'upstream_down' ? dead : live, auth)
      puts JSON.generate(library: 'oauth2 (Ruby)', version: version, target: target, auth: auth,
                         case: c[:name], outcome: outcome, detail: detail.to_s.split.join(' ')[0, 200])
    end
  end
end
