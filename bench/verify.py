"""Token verification speed: ours against PyJWT's jwt.decode and raw cryptography, in one run.

    .venv/bin/python bench/verify.py [--tokens 20000] [--rounds 5] [--jobs 2] [--check]

Per core (one process): ``raw`` is cryptography's RSA verify alone on already split and decoded
tokens, the floor; ``migrate.verify`` is ``Verifier.verify_compact`` (decode header, claims
and signature, every header rule, kid lookup, length check, RSA verify, iss and aud);
``jwt.decode`` is PyJWT given the right key (no kid lookup) checking iss and aud. With pybase64
installed, ours is also timed with the stdlib base64 decoder it falls back to. All are measured
in interleaved rounds over the same tokens and the best round of each is compared, as the least
disturbed by other load on the machine. Then whole files through ``verify_file``
(reading, decoding, verifying) in one process and in ``--jobs`` processes.

``--check`` exits 1 if ours runs at less than 0.75x the raw verify rate.
"""

from __future__ import annotations

import argparse
import base64
import collections
import hashlib
import json
import multiprocessing
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import cryptography
import jwt
from cryptography.hazmat.backends.openssl.backend import backend as openssl
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from adapters import set_token
from adapters.set_token import parse_compact
from migrate.verify import StaticKeys, Verifier, parse_jwks
from migrate.verify.run import verify_file

TARGET_RATIO = 0.75
Decoder = Callable[[bytes, int, int], tuple[bytes, bytes]]
CUSTOMER = "00000000-0000-0000-0000-000000000000"
ISSUER = f"https://v1.api.us.janrain.com/{CUSTOMER}/webhooks"
JKU = f"https://v1.api.us.janrain.com/{CUSTOMER}/login/jwk"
AUDIENCE = "https://listener.example.com/webhooks/v3"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def kid_of(key: rsa.RSAPrivateKey) -> str:
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha1(der).hexdigest()  # noqa: S324 - a key id, as Identity Cloud's look


def claims_for(index: int, now: int) -> dict[str, Any]:
    """An entityUpdated event shaped like the seed's (its tokens are about 1.3 KB)."""
    sub = str(uuid.UUID(int=index))
    app = "3vadba3vhqpkdgtsrqd4st76m3"
    return {
        "aud": [AUDIENCE],
        "events": {
            "entityUpdated": {
                "attributes": ["familyName", "givenName"],
                "captureApplicationId": app,
                "captureClientId": "3fp4zt9t256jqk4tx35wuj4ap2e53hq9",
                "entityType": "user",
                "globalSub": f"capture-v1://us.janraincapture.com/{app}/user/{sub}",
                "sub": sub,
            }
        },
        "iat": now,
        "iss": ISSUER,
        "jti": str(uuid.uuid4()),
        "toe": now * 1000,
        "txn": str(uuid.uuid4()),
    }


_signers: list[tuple[str, rsa.RSAPrivateKey]] = []


def _load_signers(pems: list[bytes]) -> None:
    for pem in pems:
        key = serialization.load_pem_private_key(pem, password=None)
        assert isinstance(key, rsa.RSAPrivateKey)
        _signers.append((kid_of(key), key))


def _sign(index_and_now: tuple[int, int]) -> str:
    index, now = index_and_now
    kid, key = _signers[index % len(_signers)]
    header = {"jku": JKU, "alg": "RS256", "kid": kid, "typ": "secevent+jwt"}
    signing_input = (
        b64url(json.dumps(header, separators=(",", ":")).encode())
        + "."
        + b64url(json.dumps(claims_for(index, now), separators=(",", ":")).encode())
    )
    signature = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return signing_input + "." + b64url(signature)


def make_tokens(keys: Sequence[rsa.RSAPrivateKey], count: int) -> list[str]:
    pems = [
        k.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        for k in keys
    ]
    now = int(time.time())
    with multiprocessing.get_context().Pool(
        os.cpu_count() or 1, initializer=_load_signers, initargs=(pems,)
    ) as pool:
        return pool.map(_sign, [(i, now) for i in range(count)], chunksize=256)


def jwks_of(keys: Sequence[rsa.RSAPrivateKey]) -> str:
    entries = []
    for key in keys:
        numbers = key.public_key().public_numbers()
        entries.append(
            {
                "kty": "RSA",
                "use": "sig",
                "alg": "RS256",
                "kid": kid_of(key),
                "n": b64url(numbers.n.to_bytes(256, "big")),
                "e": b64url(numbers.e.to_bytes(3, "big")),
            }
        )
    return json.dumps({"keys": entries})


def seconds_per_item(run: Callable[[Any], object], items: Sequence[Any]) -> float:
    start = time.perf_counter()
    for item in items:
        run(item)
    return (time.perf_counter() - start) / len(items)


def file_rate(path: str, verifier: Verifier, jobs: int, expected: int) -> float:
    start = time.perf_counter()
    verified = sum(result.ok for result in verify_file(path, verifier, jobs=jobs))
    elapsed = time.perf_counter() - start
    assert verified == expected, f"only {verified} of {expected} tokens verified"
    return expected / elapsed


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tokens", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--check", action="store_true", help=f"exit 1 below {TARGET_RATIO}x raw")
    args = parser.parse_args(argv)

    keys = [rsa.generate_private_key(public_exponent=65537, key_size=2048) for _ in range(3)]
    public_by_kid = {kid_of(k): k.public_key() for k in keys}
    tokens = make_tokens(keys, args.tokens)
    verifier = Verifier(
        StaticKeys(parse_jwks(jwks_of(keys), "bench JWKS"), "bench JWKS", JKU),
        issuer=ISSUER,
        audience=AUDIENCE,
    )
    parsed = [parse_compact(t) for t in tokens]
    raw_items = [(p.signature, p.signing_input, public_by_kid[p.header["kid"]]) for p in parsed]
    jwt_items = [(t, public_by_kid[p.header["kid"]]) for t, p in zip(tokens, parsed, strict=True)]
    del parsed
    pkcs1, sha256 = padding.PKCS1v15(), hashes.SHA256()

    def raw_verify(item: tuple[bytes, bytes, rsa.RSAPublicKey]) -> None:
        signature, signing_input, key = item
        key.verify(signature, signing_input, pkcs1, sha256)

    def pyjwt_decode(item: tuple[str, rsa.RSAPublicKey]) -> None:
        jwt.decode(item[0], item[1], algorithms=["RS256"], audience=AUDIENCE, issuer=ISSUER)

    installed = set_token._decode_clean  # pybase64 when installed, else the stdlib decoder
    ours = "migrate.verify" + (" (pybase64)" if set_token._pybase64 is not None else "")
    cases: dict[str, tuple[Callable[[Any], object], Sequence[Any], Decoder]] = {
        "raw cryptography verify": (raw_verify, raw_items, installed),
        ours: (verifier.verify_compact, tokens, installed),
    }
    if set_token._pybase64 is not None:
        stdlib = set_token._decode_clean_stdlib
        cases["migrate.verify (stdlib b64)"] = (verifier.verify_compact, tokens, stdlib)
    cases["jwt.decode"] = (pyjwt_decode, jwt_items, installed)
    times: dict[str, list[float]] = collections.defaultdict(list)
    try:
        for run, items, decoder in cases.values():
            set_token._decode_clean = decoder
            for item in items:  # every path succeeds on every token, and is warm, before timing
                run(item)
        for _ in range(args.rounds):
            for name, (run, items, decoder) in cases.items():
                set_token._decode_clean = decoder
                times[name].append(seconds_per_item(run, items))
    finally:
        set_token._decode_clean = installed
    best = {name: min(t) for name, t in times.items()}

    size = sum(map(len, tokens)) / len(tokens)
    print(
        f"{len(tokens):,} tokens of {size:,.0f} bytes on average, 3 RSA-2048 keys | "
        f"Python {platform.python_version()}, cryptography {cryptography.__version__}, "
        f"PyJWT {jwt.__version__}, {openssl.openssl_version_text()} | {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.1f} (other load makes every number worse)"
    )
    print(f"per core, best of {args.rounds} interleaved rounds (median in brackets):")
    for name, spent in best.items():
        median = statistics.median(times[name])
        print(
            f"  {name:<28} {spent * 1e6:6.2f} us/token {1 / spent:>9,.0f}/s"
            f"   ({median * 1e6:.2f} us, {1 / median:,.0f}/s)"
        )
    raw = "raw cryptography verify"
    print("ratios (best rounds; medians in brackets):")
    for name in (n for n in cases if n.startswith("migrate.verify")):
        ratio = best[raw] / best[name]
        median = statistics.median(times[raw]) / statistics.median(times[name])
        print(f"  {name} / raw verify  {ratio:5.2f}x  ({median:.2f}x; target >= {TARGET_RATIO}x)")
    print(f"  {ours} / jwt.decode  {best['jwt.decode'] / best[ours]:5.2f}x")
    ratio = best[raw] / best[ours]

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "tokens.txt")
        with open(path, "w") as out:
            out.write("\n".join(tokens) + "\n")
        rates: dict[int, list[float]] = collections.defaultdict(list)
        for _ in range(3):  # interleaved, best of three: one pass is short enough to be unlucky
            for jobs in (1, args.jobs):
                rates[jobs].append(file_rate(path, verifier, jobs, len(tokens)))
    serial, parallel = max(rates[1]), max(rates[args.jobs])
    print(
        "whole file through verify_file (read, decode, verify; pool start-up included; best of 3):"
    )
    print(f"  --jobs 1  {serial:>9,.0f} tokens/s")
    print(f"  --jobs {args.jobs}  {parallel:>9,.0f} tokens/s  ({parallel / serial:.2f}x --jobs 1)")

    if args.check and ratio < TARGET_RATIO:
        print(f"FAIL: {ratio:.2f}x raw verify is below the {TARGET_RATIO}x target", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
