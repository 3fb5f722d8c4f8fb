// Drives the oauth-dcr example server with openid-client (v5), an independent OpenID Connect
// client library: discovery, an initial access token through client_credentials, registration,
// read (with token rotation), update, a replayed token and what reuse detection (on by default)
// does then, the support path's new token, delete, and the errors the library sees.
//
// Usage: ADMIN_TOKEN=TOKEN node openid-client.js [ISSUER]   (default http://127.0.0.1:8080)
// The server must run with its defaults and --bootstrap-client registerClient:password
// --require-initial-token register --admin-token TOKEN.

'use strict';

const assert = require('node:assert/strict');
const { Issuer, errors } = require('openid-client');

const issuerUrl = process.argv[2] || 'http://127.0.0.1:8080';
const adminToken = process.env.ADMIN_TOKEN;

async function refused(promise, error, status, challenge) {
  await assert.rejects(promise, (e) => {
    assert.ok(e instanceof errors.OPError, `expected an OPError, got ${e}`);
    assert.equal(e.error, error);
    assert.equal(e.response.statusCode, status);
    if (challenge !== undefined) {
      assert.equal(e.response.headers['www-authenticate'], challenge);
    }
    return true;
  });
}

// RFC 7592 §2.2: an update carries what the server returned, minus these four members.
const SERVER_ONLY = [
  'registration_access_token',
  'registration_client_uri',
  'client_secret_expires_at',
  'client_id_issued_at',
];

function step(message) {
  console.log(`ok - ${message}`);
}

async function main() {
  assert.ok(adminToken, 'set ADMIN_TOKEN to the --admin-token the server runs with');
  // Discovery (OpenID Connect Discovery 1.0: {issuer}/.well-known/openid-configuration).
  const issuer = await Issuer.discover(issuerUrl);
  assert.equal(issuer.metadata.issuer, issuerUrl);
  assert.equal(issuer.metadata.registration_endpoint, `${issuerUrl}/register`);
  assert.equal(issuer.metadata.token_endpoint, `${issuerUrl}/token`);
  // OpenID Connect Discovery §3 members the example advertises as placeholders.
  assert.equal(issuer.metadata.authorization_endpoint, `${issuerUrl}/authorize`);
  assert.equal(issuer.metadata.jwks_uri, `${issuerUrl}/jwks`);
  step(`discovered ${issuer.metadata.issuer}, registration_endpoint ${issuer.metadata.registration_endpoint}`);

  // An initial access token from the token endpoint, with the library's client_credentials grant
  // (client_secret_basic).
  const bootstrap = new issuer.Client({ client_id: 'registerClient', client_secret: 'password' });
  const tokenSet = await bootstrap.grant({ grant_type: 'client_credentials', scope: 'register' });
  assert.equal(tokenSet.token_type, 'Bearer');
  assert.equal(tokenSet.scope, 'register');
  assert.ok(tokenSet.expires_in > 0 && tokenSet.expires_in <= 300);
  step('client_credentials grant issued an initial access token with scope register');

  const wrong = new issuer.Client({ client_id: 'registerClient', client_secret: 'wrong' });
  await refused(wrong.grant({ grant_type: 'client_credentials', scope: 'register' }), 'invalid_client', 401);
  step('wrong bootstrap secret: invalid_client (401)');

  const metadata = {
    redirect_uris: ['https://client.example/callback'],
    client_name: 'Interop App',
  };

  // Registration without any credentials: RFC 6750 §3.1, a bare Bearer challenge without an
  // error code. openid-client finds no error in the challenge and reports the body's
  // invalid_request.
  await refused(issuer.Client.register(metadata), 'invalid_request', 401, 'Bearer');
  step('registration without the initial access token: bare Bearer challenge, invalid_request (401)');

  // A token the server did not issue is a bad token: invalid_token, in the challenge too.
  await refused(
    issuer.Client.register(metadata, { initialAccessToken: 'not-a-token-we-issued' }),
    'invalid_token',
    401,
    'Bearer error="invalid_token"',
  );
  step('registration with a wrong initial access token: invalid_token (401)');

  // Client.register (RFC 7591).
  const client = await issuer.Client.register(metadata, { initialAccessToken: tokenSet.access_token });
  assert.ok(client.client_id);
  assert.ok(client.client_secret);
  assert.equal(client.client_name, 'Interop App');
  assert.deepEqual(client.redirect_uris, metadata.redirect_uris);
  assert.equal(client.registration_client_uri, `${issuerUrl}/register/${client.client_id}`);
  step(`registered ${client.client_id}`);

  // Client.fromUri (RFC 7592 read): a new registration access token each time.
  const read = await issuer.Client.fromUri(client.registration_client_uri, client.registration_access_token);
  assert.equal(read.client_id, client.client_id);
  assert.equal(read.client_name, 'Interop App');
  assert.notEqual(read.registration_access_token, client.registration_access_token);
  step('read it with Client.fromUri; the registration access token rotated');

  // The rotated-away token comes back: refused, and, with reuse detection on (the crate's and
  // the server's default), taken as theft: the client's current token is revoked too.
  await refused(
    issuer.Client.fromUri(client.registration_client_uri, client.registration_access_token),
    'invalid_token',
    401,
    'Bearer error="invalid_token"',
  );
  step('the old registration access token: invalid_token (401)');
  await refused(
    issuer.Client.fromUri(read.registration_client_uri, read.registration_access_token),
    'invalid_token',
    401,
  );
  step('reuse detection revoked the current token too: invalid_token (401)');

  // The support path gives the client a new token (the admin endpoint, not a client API: plain
  // fetch), and the library manages the client with it again.
  const reissue = await fetch(
    `${issuerUrl}/admin/clients/${encodeURIComponent(client.client_id)}/registration-token`,
    { method: 'POST', headers: { Authorization: `Bearer ${adminToken}` } },
  );
  assert.equal(reissue.status, 200, `reissue: ${reissue.status}`);
  const reissued = await reissue.json();
  assert.equal(reissued.client_id, client.client_id);
  assert.ok(reissued.registration_access_token);
  const recovered = await issuer.Client.fromUri(reissued.registration_client_uri, reissued.registration_access_token);
  assert.equal(recovered.client_id, client.client_id);
  assert.equal(recovered.client_name, 'Interop App');
  assert.notEqual(recovered.registration_access_token, reissued.registration_access_token);
  step('the support path reissued a registration access token (POST /admin/clients/{id}/registration-token); Client.fromUri reads the client with it, and it rotated');

  // openid-client has no update or delete for RFC 7592; its bearer-token HTTP helper
  // (requestResource) sends them. The update sends back what the read returned (the client's
  // metadata as the library holds it), minus the four server-only members, with a new name.
  const update = { ...recovered.metadata, client_name: 'Renamed Interop App' };
  for (const member of SERVER_ONLY) {
    delete update[member];
  }
  const put = await recovered.requestResource(recovered.registration_client_uri, recovered.registration_access_token, {
    method: 'PUT',
    headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
    body: JSON.stringify(update),
  });
  assert.equal(put.statusCode, 200, `send-back update: ${put.statusCode} ${put.body}`);
  const updated = new issuer.Client(JSON.parse(put.body.toString()));
  assert.equal(updated.client_id, client.client_id);
  assert.equal(updated.client_name, 'Renamed Interop App');
  assert.notEqual(updated.registration_access_token, recovered.registration_access_token);
  step('updated it by sending back the read minus the four RFC 7592 members (PUT through requestResource); the token rotated again');

  const del = await updated.requestResource(updated.registration_client_uri, updated.registration_access_token, {
    method: 'DELETE',
  });
  assert.equal(del.statusCode, 204);
  step('deleted it (DELETE through requestResource): 204');

  await refused(
    issuer.Client.fromUri(updated.registration_client_uri, updated.registration_access_token),
    'invalid_token',
    401,
  );
  step('reading the deleted client: invalid_token (401)');
  console.log('all interop checks passed');
}

main().catch((e) => {
  console.error('not ok -', e);
  process.exit(1);
});
