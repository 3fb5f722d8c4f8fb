#!/usr/bin/env bash
# Writes the seed corpus of the fuzz targets into corpus/<target>/: the RFC 7591 §3.1 and
# RFC 7592 §2.2 request bodies of tests/data/, realistic registrations, and compact JWS signed
# with tests/hostile/keys/issuer.pem (openssl dgst), valid at the targets' fixed clock.
# Needs the openssl CLI and python3. Run from anywhere; it overwrites the seeds it makes.
set -euo pipefail
cd "$(dirname "$0")"
ROOT=..
KEY=$ROOT/tests/hostile/keys/issuer.pem
mkdir -p corpus/register corpus/jws corpus/http

# ---- register: plain JSON bodies ----
for f in rfc7591-3.1-open-registration rfc7591-3.1-authorized-registration \
         rfc7591-3.1.1-software-statement rfc7592-2.2-update-request; do
  cp "$ROOT/tests/data/$f.json" "corpus/register/$f"
done
printf '%s' '{"grant_types":["client_credentials"],"scope":"openid profile","redirect_uris":["https://tmp.com"]}' > corpus/register/client-credentials
printf '%s' '{"application_type":"native","redirect_uris":["http://127.0.0.1:51004/cb","com.example.app:/oauth2redirect"],"token_endpoint_auth_method":"none"}' > corpus/register/native
printf '%s' '{"redirect_uris":["https://app.example/cb"],"client_name":"App","client_name#ja-Jpan-JP":"アプリ","logo_uri#fr":"https://app.example/logo-fr.png","example_extension_parameter":{"a":[1,2]}}' > corpus/register/language-tags
printf '%s' '{"redirect_uris":["https://app.example/cb"],"token_endpoint_auth_method":"private_key_jwt","jwks":{"keys":[{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0","kid":"1"}]}}' > corpus/register/private-key-jwt
printf '%s' '{"redirect_uris":["https://app.example/cb#x","javascript:alert(1)","https://user@app.example/cb"],"grant_types":["password"],"client_id":"admin","client_name":null}' > corpus/register/hostile
printf '%s' '{"redirect_uris":["https://app.example/cb"],"response_types":["code id_token"],"grant_types":["authorization_code","implicit"],"subject_type":"pairwise","id_token_signed_response_alg":"none","id_token_encrypted_response_alg":"RSA-OAEP"}' > corpus/register/oidc
printf '%s' '{"a":{"a":1},"a":2}' > corpus/register/duplicate

# ---- jws: mode byte + input ----
b64() { python3 -c 'import base64,sys; print(base64.urlsafe_b64encode(sys.stdin.buffer.read()).rstrip(b"=").decode(), end="")'; }
sign() { # header-json payload-json -> compact JWS (RS256 with the issuer key)
  local input
  input="$(printf '%s' "$1" | b64).$(printf '%s' "$2" | b64)"
  printf '%s.%s' "$input" "$(printf '%s' "$input" | openssl dgst -sha256 -sign "$KEY" -binary | b64)"
}
NOW=1700000000
HEADER='{"alg":"RS256","kid":"issuer-rs256","typ":"JWT"}'
STATEMENT=$(sign "$HEADER" "{\"iss\":\"https://directory.example\",\"iat\":$NOW,\"exp\":$((NOW + 3600)),\"jti\":\"seed-1\",\"software_id\":\"4NRB1-0XZABZI9E6-5SM3R\",\"client_name\":\"Example Statement-based Client\",\"client_uri\":\"https://client.example.net/\",\"redirect_uris\":[\"https://app.example/cb\"]}")
REQUEST=$(sign "$HEADER" "{\"iss\":\"https://client.example.net\",\"aud\":\"https://as.example/register\",\"iat\":$NOW,\"exp\":$((NOW + 300)),\"jti\":\"seed-2\",\"redirect_uris\":[\"https://app.example/cb\"],\"token_endpoint_auth_method\":\"private_key_jwt\",\"jwks_uri\":\"https://client.example.net/jwks.json\",\"software_statement\":\"$STATEMENT\"}")
RFC_STATEMENT=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["software_statement"], end="")' "$ROOT/tests/data/rfc7591-3.1.1-software-statement.json")
NONE="$(printf '%s' '{"alg":"none"}' | b64).$(printf '%s' '{"iss":"https://directory.example","software_id":"x"}' | b64)."
{ printf '\0'; printf '%s' "$STATEMENT"; } > corpus/jws/statement-valid
{ printf '\0'; printf '%s' "$RFC_STATEMENT"; } > corpus/jws/statement-rfc7591
{ printf '\0'; printf '%s' "$NONE"; } > corpus/jws/statement-alg-none
{ printf '\1'; printf '%s' "$REQUEST"; } > corpus/jws/request-signed
{ printf '\2'; printf '{"keys":['; cat "$ROOT/tests/hostile/keys/issuer.jwk.json"; printf ']}'; } > corpus/jws/jwks-issuer
{ printf '\2'; printf '%s' '{"keys":[{"kty":"EC","crv":"P-256","x":"MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4","y":"4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM","use":"enc","kid":"1"},{"kty":"RSA","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw","e":"AQAB","alg":"RS256","kid":"2011-04-29"}]}'; } > corpus/jws/jwks-rfc7517
{ printf '\3'; printf '{"redirect_uris":["https://app.example/cb"],"client_name":"Body Name","software_statement":"%s"}' "$STATEMENT"; } > corpus/jws/body-statement
# Modes 4 and 5: three bytes (octal here) pick exp, iat and nbf among EDGE_TIMES of
# fuzz/src/lib.rs (7: the last second of year 9999, 1: i64::MAX, 20: 1e308, 13: the fixed
# clock, 30: absent); the target signs the payload.
printf '\4\7\15\36' > corpus/jws/edge-statement-year-9999
printf '\5\7\15\36' > corpus/jws/edge-request-year-9999
printf '\4\1\15\36{"jti":"edge-2"}' > corpus/jws/edge-statement-i64-max
printf '\5\24\15\36{"aud":"https://as.example/register"}' > corpus/jws/edge-request-1e308

# ---- http: mode byte + header value, or a request ----
printf '\0%s' 'Bearer mF_9.B5f-4.1JqM' > corpus/http/bearer-rfc6750
printf '\0%s' 'bearer  abc+/==' > corpus/http/bearer-lowercase
printf '\0%s' 'Basic czZCaGRSa3F0MzpnWDFmQmF0M2JW' > corpus/http/basic
printf '\1POST\n/register\ncontent-type: application/json\n\n%s' "$(cat "$ROOT/tests/data/rfc7591-3.1-open-registration.json")" > corpus/http/post-register
printf '\1POST\n/register\nauthorization: Bearer ey23f2.adfj230.af32-developer321\ncontent-type: application/json; charset=utf-8\norigin: https://app.example\n\n%s' '{"redirect_uris":["https://app.example/cb"]}' > corpus/http/post-register-token
printf '\1GET\n/register/$ID\nauthorization: Bearer $TOKEN\n\n' > corpus/http/read
printf '\1PUT\n/register/$ID\nauthorization: Bearer $TOKEN\ncontent-type: application/json\n\n%s' '{"client_id":"$ID","redirect_uris":["https://app.example/cb2"],"client_name":"Updated"}' > corpus/http/update
printf '\1DELETE\n/register/$ID\nauthorization: Bearer $TOKEN\n\n' > corpus/http/delete
printf '\1GET\n/register/$ID?access_token=$TOKEN\n\n' > corpus/http/query-token
printf '\1OPTIONS\n/register\norigin: https://app.example\naccess-control-request-method: POST\n\n' > corpus/http/preflight
printf '\1PATCH\n/register/$ID/extra\nauthorization: Bearer $TOKEN\n\n' > corpus/http/odd-method
