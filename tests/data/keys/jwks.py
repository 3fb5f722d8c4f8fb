"""Prints the public JWK Set of PEM private keys: python3 jwks.py KID=ALG=FILE.pem ...

Each argument names the key id, the JWS algorithm the key is for, and the PEM file
(PKCS#8, as `openssl genpkey` writes it). Needs the `cryptography` package.
"""
import base64
import json
import sys

from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_pem_private_key,
)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def uint(value: int, length: int = 0) -> str:
    size = max(length, (value.bit_length() + 7) // 8)
    return b64(value.to_bytes(size, "big"))


def public_jwk(kid: str, alg: str, path: str) -> dict:
    with open(path, "rb") as f:
        key = load_pem_private_key(f.read(), password=None)
    public = key.public_key()
    if isinstance(public, rsa.RSAPublicKey):
        numbers = public.public_numbers()
        jwk = {"kty": "RSA", "n": uint(numbers.n), "e": uint(numbers.e)}
    elif isinstance(public, ec.EllipticCurvePublicKey):
        assert public.curve.name == "secp256r1", public.curve.name
        numbers = public.public_numbers()
        jwk = {"kty": "EC", "crv": "P-256", "x": uint(numbers.x, 32), "y": uint(numbers.y, 32)}
    elif isinstance(public, ed25519.Ed25519PublicKey):
        raw = public.public_bytes(Encoding.Raw, PublicFormat.Raw)
        jwk = {"kty": "OKP", "crv": "Ed25519", "x": b64(raw)}
    else:
        raise SystemExit(f"{path}: unsupported key type")
    jwk.update({"kid": kid, "use": "sig", "alg": alg})
    return jwk


keys = [public_jwk(*arg.split("=", 2)) for arg in sys.argv[1:]]
print(json.dumps({"keys": keys}, indent=2))
