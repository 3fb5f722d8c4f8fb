#!/bin/sh
# Regenerates every key of this directory (run from tests/data/keys). The tests read the files;
# they never generate keys. Running this again makes new keys: commit them all together.
set -eu

# The trusted directory that signs software statements: one key per accepted algorithm.
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out issuer-rs256.pem
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out issuer-ps256.pem
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -pkeyopt ec_param_enc:named_curve -out issuer-es256.pem
openssl genpkey -algorithm ED25519 -out issuer-eddsa.pem

# The RS256 public key as an attacker would find it, for the HMAC key-confusion tests.
openssl pkey -in issuer-rs256.pem -pubout -out issuer-rs256.pub.pem
openssl pkey -in issuer-rs256.pem -pubout -outform DER -out issuer-rs256.pub.der

# The client software's own key (signed request bodies, and the `jwks` of its statement).
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -pkeyopt ec_param_enc:named_curve -out client-es256.pem

# A key nobody trusts.
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out attacker-rs256.pem

python3 jwks.py issuer-rs256=RS256=issuer-rs256.pem issuer-ps256=PS256=issuer-ps256.pem \
    issuer-es256=ES256=issuer-es256.pem issuer-eddsa=EdDSA=issuer-eddsa.pem > issuer.jwks.json
python3 jwks.py client-es256=ES256=client-es256.pem > client.jwks.json
python3 jwks.py attacker-rs256=RS256=attacker-rs256.pem > attacker.jwks.json

# A self-signed certificate of the attacker's key, for the `x5c` header test.
openssl req -x509 -key attacker-rs256.pem -subj /CN=attacker.example -days 36500 -out attacker-rs256.crt
