"""Benchmark of ``serve``: signed tokens from 32 connections (wrk), against a peer and a ceiling.

Sends N unique tokens plus 10 % duplicates, measured three ways on the same granian server and
worker count, one after the other in the same run:

- **ceiling**: a bare app answering 202 (the server's own limit);
- **peer**: the hand-written receiver (jwt.decode, INSERT ... ON CONFLICT DO NOTHING, a commit
  per request) at the same durability;
- **serve**: the listener (live verification, group commit).

Then bad tokens (the right ``kid``, signed by another key: a bad signature) to the peer and to
the listener. Prints req/s, p50 and p99, the server's CPU time per answer (its process tree's
user + system time, which unlike req/s hardly depends on what else the machine is doing), the
ratios, and checks the store holds exactly the unique tokens, each once.

    python bench/serve.py [--n 20000] [--backend sqlite|postgres] [--workers 2]

PostgreSQL uses $WEBHOOKS_MIGRATE_TEST_POSTGRES_URL (a database is made and dropped).
Needs ``wrk`` (Debian: apt-get install -y wrk).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

ROOT = Path(__file__).resolve().parent.parent
ISSUER = "https://v1.api.us.janrain.com/bench/webhooks"
AUDIENCE = "https://listener.example.com/webhooks/v3"
KID = "bench-key-1"
_KEYS: dict[bytes, Any] = {}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _sign(args: tuple[bytes, int, str]) -> str:
    pem, iat, kid = args
    key = _KEYS.get(pem)
    if key is None:
        key = _KEYS[pem] = serialization.load_pem_private_key(pem, None)
    header = {"alg": "RS256", "kid": kid, "typ": "secevent+jwt"}
    sub = str(uuid.uuid4())
    claims = {
        "aud": [AUDIENCE], "iss": ISSUER, "iat": iat, "jti": str(uuid.uuid4()),
        "toe": iat * 1000, "txn": str(uuid.uuid4()),
        "events": {"entityUpdated": {
            "attributes": ["familyName"], "captureApplicationId": "bench",
            "captureClientId": "bench", "entityType": "user", "sub": sub,
            "globalSub": f"capture-v1://bench/user/{sub}",
        }},
    }  # fmt: skip
    signing_input = b64(json.dumps(header).encode()) + "." + b64(json.dumps(claims).encode())
    signature = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return signing_input + "." + b64(signature)


def make_tokens(pem: bytes, n: int, kid: str = KID) -> list[str]:
    now = int(time.time())
    with ThreadPoolExecutor(os.cpu_count() or 2) as pool:  # RSA signing releases the GIL
        return list(pool.map(_sign, [(pem, now, kid)] * n))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_up(port: int, path: str = "/healthz", timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as r:
                if r.status in (200, 202):
                    return
        except urllib.error.HTTPError as exc:
            if path == "/healthz":  # any answer: the server is up
                return
            last = exc
            time.sleep(0.1)
        except OSError as exc:
            last = exc
            time.sleep(0.1)
    raise SystemExit(f"server on {port} did not come up: {last!r}")


@contextmanager
def server(command: list[str], port: int, env: dict[str, str], ready: str = "/healthz") -> Any:
    process = subprocess.Popen(
        command, env={**os.environ, **env}, cwd=ROOT, stderr=subprocess.DEVNULL
    )
    try:
        wait_up(port, ready)
        yield process.pid
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()


def granian(target: str, interface: str, port: int, workers: int, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "granian", "--interface", interface, "--workers", str(workers),
        "--port", str(port), "--no-log", "--no-ws", *extra, target,
    ]  # fmt: skip


def tree_cpu_seconds(root: int) -> float:
    """User + system CPU seconds of ``root`` and its live descendants (the server's workers)."""
    tick = os.sysconf("SC_CLK_TCK")
    children: dict[int, list[int]] = {}
    stats: dict[int, list[str]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", encoding="ascii") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue  # ended meanwhile
            stats[int(entry)] = fields
            children.setdefault(int(fields[1]), []).append(int(entry))
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        if pid in stats:
            total += (int(stats[pid][11]) + int(stats[pid][12])) / tick
        todo += children.get(pid, [])
    return total


def run_wrk(
    port: int, tokens_file: Path, connections: int = 32, *, pid: int | None = None
) -> dict[str, Any]:
    """Each token once; ends wrk (SIGINT) as soon as both its threads have had every answer.

    With ``pid`` (the server's), also the server's CPU time per answer: unlike req/s, it does
    not depend on how busy the rest of the machine is (much)."""
    print(f"wrk {tokens_file.name} -> {port} ...", file=sys.stderr)
    cpu_before = tree_cpu_seconds(pid) if pid else 0.0
    threads = 2
    with tempfile.TemporaryDirectory(prefix="bench-wrk-") as done:
        env = {**os.environ, "BENCH_TOKENS": str(tokens_file), "BENCH_THREADS": str(threads),
               "BENCH_DONE": done}  # fmt: skip
        script = Path(__file__).with_name("serve_load.lua")
        process = subprocess.Popen(
            ["wrk", "-t", str(threads), "-c", str(connections), "-d", "600s", "--timeout",
             "30s", "-s", str(script), f"http://127.0.0.1:{port}/v3"],
            env=env, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        while len(os.listdir(done)) < threads and process.poll() is None:
            time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        out, _ = process.communicate(60)
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    token_answers = result["accepted"] + result["refused"] + result["other"]
    result["rps"] = token_answers / (result["duration_us"] / 1e6)
    if pid:
        result["cpu_us"] = (tree_cpu_seconds(pid) - cpu_before) / token_answers * 1e6
    return result


def row(name: str, r: dict[str, Any]) -> str:
    return (
        f"{name:<22} {r['rps']:>9.0f} {r['p50_us'] / 1000:>8.2f} {r['p99_us'] / 1000:>8.2f} "
        f"{r['accepted']:>8} {r['refused']:>8} {r['other']:>6} {r.get('cpu_us', 0):>8.0f}"
    )


def store_counts(db: str, jtis: set[str]) -> tuple[int, int, int]:
    """(rows with our jtis, rows stored twice, sum of seen_count)."""
    import sqlalchemy as sa

    engine = sa.create_engine(db)
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT event_id, seen_count FROM events")).all()
    engine.dispose()
    ids = [r[0] for r in rows if r[0] in jtis]
    return len(set(ids)), len(ids) - len(set(ids)), sum(r[1] for r in rows)


@contextmanager
def database(backend: str, tmp: Path, name: str) -> Any:
    if backend == "sqlite":
        yield f"sqlite:///{tmp / name}.db"
        return
    import sqlalchemy as sa

    base = os.environ["WEBHOOKS_MIGRATE_TEST_POSTGRES_URL"]
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    db_name = f"wm_bench_{name}_{secrets.token_hex(4)}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{db_name}"')
    try:
        yield str(sa.make_url(base).set(database=db_name).render_as_string(hide_password=False))
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=20_000, help="unique tokens")
    parser.add_argument("--bad", type=int, default=5_000, help="bad tokens")
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--serve-workers", type=int, help="listener workers (default --workers)")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (Debian: apt-get install -y wrk)")

    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )  # fmt: skip
    public = private.public_key()
    numbers = public.public_numbers()
    jwk = {
        "kty": "RSA", "use": "sig", "alg": "RS256", "kid": KID,
        "n": b64(numbers.n.to_bytes(256, "big")), "e": b64(numbers.e.to_bytes(3, "big")),
    }  # fmt: skip
    print(f"signing {args.n} tokens ...", file=sys.stderr)
    unique = make_tokens(pem, args.n)
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    stranger_pem = stranger.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )  # fmt: skip
    bad = make_tokens(stranger_pem, args.bad, kid=KID)  # right kid, wrong key: bad signature
    rng = random.Random(1)
    sent = unique + rng.sample(unique, args.n // 10)
    rng.shuffle(sent)
    jtis = {json.loads(base64.urlsafe_b64decode(t.split(".")[1] + "==")).get("jti") for t in unique}

    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp_name:
        tmp = Path(tmp_name)
        tokens_file, bad_file = tmp / "tokens.txt", tmp / "bad.txt"
        tokens_file.write_text("\n".join(sent) + "\n")
        bad_file.write_text("\n".join(bad) + "\n")
        jwks_file = tmp / "jwks.json"
        jwks_file.write_text(json.dumps({"keys": [jwk]}))
        key_file = tmp / "public.pem"
        key_file.write_bytes(
            public.public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
        w = args.workers
        results: dict[str, dict[str, Any]] = {}

        port = free_port()
        with server(granian("bench.serve_refs:ceiling", "asgi", port, w), port, {}) as pid:
            results["ceiling (bare 202)"] = run_wrk(port, tokens_file, pid=pid)

        with database(args.backend, tmp, "peer") as peer_db:
            port = free_port()
            env = {"BENCH_PEER_DB": peer_db, "BENCH_PEER_KEY": str(key_file),
                   "BENCH_PEER_AUD": AUDIENCE}  # fmt: skip
            command = granian("bench.serve_refs:peer", "wsgi", port, w, "--factory",
                              "--blocking-threads", "4")  # fmt: skip
            with server(command, port, env) as pid:
                results["peer"] = run_wrk(port, tokens_file, pid=pid)
                results["peer, bad tokens"] = run_wrk(port, bad_file, pid=pid)

        with database(args.backend, tmp, "serve") as db:
            port = free_port()
            command = [
                sys.executable, "-m", "migrate", "serve", "--db", db, "--jwks", str(jwks_file),
                "--issuer", ISSUER, "--audience", AUDIENCE, "--port", str(port),
                "--workers", str(args.serve_workers or w),
            ]  # fmt: skip
            with server(command, port, {}, ready="/readyz") as pid:
                results["serve"] = run_wrk(port, tokens_file, pid=pid)
                results["serve, bad tokens"] = run_wrk(port, bad_file, pid=pid)
            stored, twice, seen = store_counts(db, jtis)

    dups = len(sent) - args.n
    print(f"\nbackend {args.backend}, {w} workers, 32 connections, {len(sent)} requests "
          f"({args.n} unique + {dups} duplicates), {args.bad} bad tokens")  # fmt: skip
    print(
        f"{'':<22} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'202':>8} {'400':>8} {'other':>6}"
        f" {'cpu us':>8}"
    )
    for name, r in results.items():
        print(row(name, r))
    ours, peer = results["serve"], results["peer"]
    print(
        f"\nserve / peer: {ours['rps'] / peer['rps']:.2f}x (target >= 3x); "
        f"serve / ceiling: {ours['rps'] / results['ceiling (bare 202)']['rps']:.2f}x"
    )
    bad_ratio = results["serve, bad tokens"]["rps"] / results["peer, bad tokens"]["rps"]
    print(f"bad tokens, serve / peer: {bad_ratio:.2f}x (target >= 2x)")
    print(f"p99 {ours['p99_us'] / 1000:.1f} ms (target <= 50 ms)")
    lost = args.n - stored
    print(f"store: {stored} of {args.n} unique tokens, {lost} lost, {twice} stored twice, "
          f"seen_count sum {seen} (sent {len(sent)})")  # fmt: skip
    if lost or twice or ours["accepted"] != len(sent):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
