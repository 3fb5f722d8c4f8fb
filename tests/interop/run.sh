#!/usr/bin/env bash
# Builds and starts the example server on a loopback port, on its defaults (reuse detection
# on) with a bootstrap client and an admin token, runs the openid-client script against it, and
# stops the server.
set -euo pipefail
cd "$(dirname "$0")"
root=../..
addr=${INTEROP_ADDR:-127.0.0.1:8089}

[ -d node_modules ] || npm ci --no-audit --no-fund
cargo build --quiet --manifest-path "$root/Cargo.toml" --example server
# 128 random bits, for the support path's step (POST /admin/clients/{id}/registration-token).
ADMIN_TOKEN=$(head -c 16 /dev/urandom | base64)
export ADMIN_TOKEN
"$root/target/debug/examples/server" --listen "$addr" \
  --bootstrap-client registerClient:password --require-initial-token register \
  --admin-token "$ADMIN_TOKEN" &
server=$!
trap 'kill "$server" 2>/dev/null; wait "$server" 2>/dev/null || true' EXIT

for _ in $(seq 50); do
  curl -fs "http://$addr/.well-known/openid-configuration" >/dev/null && break
  sleep 0.1
done
node openid-client.js "http://$addr"

# OpenID Federation explicit registration: statements made by @openid-federation/core, sent to a
# second server started with the federation flags (its entity identifier is its own URL).
kill "$server" 2>/dev/null; wait "$server" 2>/dev/null || true
fed_addr=${INTEROP_FEDERATION_ADDR:-127.0.0.1:8090}
fed_dir=$(mktemp -d)
node federation.js setup "$fed_dir" "http://$fed_addr"
"$root/target/debug/examples/server" --listen "$fed_addr" \
  --federation-entity-id "http://$fed_addr" --federation-key "$fed_dir/op.jwk" \
  --trust-anchor "https://ta.interop.example=$fed_dir/ta.jwks" &
server=$!
for _ in $(seq 50); do
  curl -fs "http://$fed_addr/.well-known/openid-federation" >/dev/null && break
  sleep 0.1
done
node federation.js register "http://$fed_addr" "$fed_dir"
rm -rf "$fed_dir"
