#!/usr/bin/env bash
# Makes the RSA keys of the hostile-input tests, once; the files are committed and the tests only
# read them. Needs the openssl CLI and python3.
set -euo pipefail
cd "$(dirname "$0")"
for name in issuer attacker; do
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$name.pem"
  openssl pkey -in "$name.pem" -pubout -out "$name.pub.pem"
  modulus=$(openssl rsa -in "$name.pem" -noout -modulus | cut -d= -f2)
  exponent=$(openssl rsa -in "$name.pem" -noout -text | sed -n 's/^publicExponent: \([0-9]*\).*/\1/p')
  python3 - "$name" "$modulus" "$exponent" > "$name.jwk.json" <<'PY'
import base64, json, sys
name, modulus, exponent = sys.argv[1], sys.argv[2], int(sys.argv[3])
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
n = bytes.fromhex(modulus)
e = exponent.to_bytes((exponent.bit_length() + 7) // 8, "big")
print(json.dumps({"kty": "RSA", "kid": f"{name}-rs256", "use": "sig", "alg": "RS256", "n": b64(n), "e": b64(e)}, indent=2))
PY
done
