// Drives the example server's OpenID Federation explicit registration with statements made by
// @openid-federation/core, an OpenID Federation library this project does not maintain:
//
//   node federation.js setup DIR OP_ENTITY_ID   keys for a trust anchor, an intermediate, a
//                                               relying party and the server; the relying
//                                               party's trust chain, made by the library
//   node federation.js register OP_URL DIR      the server's Entity Configuration, then the
//                                               chain registered and a forged one refused
//
// Node's WebCrypto signs (ES256, the JOSE r||s form the library expects) and verifies.
'use strict';

const fs = require('node:fs');
const path = require('node:path');
const assert = require('node:assert/strict');
const { subtle } = globalThis.crypto;
const { createEntityConfiguration, createEntityStatement } = require('@openid-federation/core');

const TA = 'https://ta.interop.example';
const INT = 'https://int.interop.example';
const RP = 'https://rp.interop.example';
const ES256 = { name: 'ECDSA', namedCurve: 'P-256' };

async function entity(id) {
  const pair = await subtle.generateKey(ES256, true, ['sign', 'verify']);
  const pub = await subtle.exportKey('jwk', pair.publicKey);
  const kid = `${id}#1`;
  const jwk = { kty: pub.kty, crv: pub.crv, x: pub.x, y: pub.y, kid, alg: 'ES256', use: 'sig' };
  const sign = async ({ toBeSigned }) =>
    new Uint8Array(await subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, pair.privateKey, toBeSigned));
  return { id, kid, jwk, pair, sign };
}

function decode(jwt) {
  const [h, p] = jwt.split('.');
  return {
    header: JSON.parse(Buffer.from(h, 'base64url').toString()),
    claims: JSON.parse(Buffer.from(p, 'base64url').toString()),
  };
}

async function verify(jwt, jwks) {
  const [h, p, s] = jwt.split('.');
  const { header } = decode(jwt);
  const jwk = jwks.keys.find((k) => k.kid === header.kid);
  assert.ok(jwk, `no key ${header.kid}`);
  const key = await subtle.importKey('jwk', { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y }, ES256, false, ['verify']);
  const ok = await subtle.verify({ name: 'ECDSA', hash: 'SHA-256' }, key, Buffer.from(s, 'base64url'), Buffer.from(`${h}.${p}`));
  assert.ok(ok, 'the signature verifies');
  return decode(jwt);
}

async function setup(dir, opEntityId) {
  fs.mkdirSync(dir, { recursive: true });
  const [ta, int, rp, op] = await Promise.all([entity(TA), entity(INT), entity(RP), entity(opEntityId)]);
  const now = Math.floor(Date.now() / 1000);
  const times = { iat: now - 60, exp: now + 3600 };
  const statement = (issuer, subject, extra) =>
    createEntityStatement({
      header: { kid: issuer.kid, typ: 'entity-statement+jwt', alg: 'ES256' },
      claims: { iss: issuer.id, sub: subject.id, ...times, jwks: { keys: [subject.jwk] }, ...extra },
      jwk: issuer.jwk,
      signJwtCallback: issuer.sign,
    });
  const configuration = await createEntityConfiguration({
    header: { kid: rp.kid, typ: 'entity-statement+jwt', alg: 'ES256' },
    claims: {
      iss: RP, sub: RP, ...times, jwks: { keys: [rp.jwk] }, aud: opEntityId, authority_hints: [INT],
      metadata: {
        openid_relying_party: {
          client_registration_types: ['explicit'],
          client_name: 'Interop RP',
          redirect_uris: ['https://rp.interop.example/callback'],
          token_endpoint_auth_method: 'private_key_jwt',
          jwks: { keys: [rp.jwk] },
        },
      },
    },
    signJwtCallback: rp.sign,
  });
  const chain = [
    configuration,
    await statement(int, rp, {}),
    await statement(ta, int, {
      metadata_policy: {
        openid_relying_party: {
          contacts: { add: ['helpdesk@ta.interop.example'] },
          token_endpoint_auth_method: { one_of: ['private_key_jwt'], essential: true },
        },
      },
    }),
  ];
  // The same chain, the anchor's statement signed by another key under the anchor's name.
  const impostor = await entity(TA);
  const forged = [...chain.slice(0, 2), await statement(impostor, int, {})];
  const opPrivate = await subtle.exportKey('jwk', op.pair.privateKey);
  fs.writeFileSync(path.join(dir, 'op.jwk'), JSON.stringify({ ...opPrivate, kid: op.kid, alg: 'ES256' }));
  fs.writeFileSync(path.join(dir, 'ta.jwks'), JSON.stringify({ keys: [ta.jwk] }));
  fs.writeFileSync(path.join(dir, 'chain.json'), JSON.stringify(chain));
  fs.writeFileSync(path.join(dir, 'forged.json'), JSON.stringify(forged));
  console.log(`ok   setup: keys and trust chains in ${dir}; trust anchor ${TA}`);
}

async function register(base, dir) {
  const ec = await fetch(`${base}/.well-known/openid-federation`);
  assert.equal(ec.status, 200);
  assert.equal(ec.headers.get('content-type'), 'application/entity-statement+jwt');
  const configurationJwt = await ec.text();
  const { claims: configuration } = decode(configurationJwt);
  await verify(configurationJwt, configuration.jwks);
  const provider = configuration.metadata.openid_provider;
  assert.deepEqual(provider.client_registration_types_supported, ['explicit']);
  console.log(`ok   the server's Entity Configuration verifies with its own keys; registration at ${provider.federation_registration_endpoint}`);

  const post = (file) =>
    fetch(provider.federation_registration_endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/trust-chain+json' },
      body: fs.readFileSync(path.join(dir, file)),
    });
  const registered = await post('chain.json');
  assert.equal(registered.status, 200);
  assert.equal(registered.headers.get('content-type'), 'application/explicit-registration-response+jwt');
  const { header, claims } = await verify(await registered.text(), configuration.jwks);
  assert.equal(header.typ, 'explicit-registration-response+jwt');
  assert.equal(claims.iss, configuration.iss);
  assert.equal(claims.sub, RP);
  assert.equal(claims.aud, RP);
  assert.equal(claims.trust_anchor, TA);
  assert.deepEqual(claims.authority_hints, [INT]);
  const metadata = claims.metadata.openid_relying_party;
  assert.equal(metadata.client_id, RP);
  assert.deepEqual(metadata.contacts, ['helpdesk@ta.interop.example']);
  assert.equal(metadata.token_endpoint_auth_method, 'private_key_jwt');
  assert.equal(metadata.client_secret, undefined);
  assert.equal(metadata.registration_access_token, undefined);
  console.log(`ok   registered ${metadata.client_id} through ${claims.trust_anchor}; the signed response verifies, the anchor's policy applied`);

  const forged = await post('forged.json');
  assert.equal(forged.status, 400);
  const error = await forged.json();
  assert.equal(error.error, 'invalid_trust_chain');
  console.log(`ok   a chain whose anchor statement another key signed: 400 ${error.error}`);
}

const [command, ...args] = process.argv.slice(2);
const run = command === 'setup' ? setup(...args) : command === 'register' ? register(...args) : Promise.reject(new Error('usage: setup DIR OP_ENTITY_ID | register OP_URL DIR'));
run.catch((e) => {
  console.error(`FAIL ${e.stack || e}`);
  process.exit(1);
});
