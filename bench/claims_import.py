"""Claim XML import benchmark: ``python -m bench.claims_import --files 1000``.

Measures, on this machine, how fast signed claim files (``GIAMDINHHS``, Decisions 130/4750/3176) are
imported into a fresh database on the local PostgreSQL through :func:`senhealth.emr.claims.importer.import_claim`
(signature verified, every table validated field by field, the patient found through the patient index,
the file written in one transaction). The files are generated beforehand (not counted) by
:func:`senhealth.emr.claims.synthetic.generate_claims`: varied visits, a share broken on purpose, signed by
a facility certificate of a throwaway certificate authority built with the platform's own CA code.

Rows:

- verify and validate only (no database): parse, signature, field checks;
- import, one file after another (the CLI's way): files/s and resources/s written;
- the same files again (nothing new is written: the idempotent path);
- import with 4 files in flight at once (the API under several clients).

Besides wall-clock rates it reports the CPU time per file of this process and of the database's server
processes (from /proc). fsync and synchronous_commit stay on. The server is
``SENHEALTH_BENCH_DATABASE_URL`` (default ``postgresql://postgres@127.0.0.1:5432/postgres``); databases
``senhealth_bench_<random>`` are created and dropped. Prints a Markdown table and writes it to
``bench/results/claims_import.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import psycopg
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

from bench.__main__ import machine
from bench.ingest import DEFAULT_SERVER, scratch_database, server_cpu
from senhealth.core.db import create_pool
from senhealth.emr.claims.envelope import read_envelope, verify_envelope
from senhealth.emr.claims.importer import ImportResult, import_claim
from senhealth.emr.claims.synthetic import SyntheticClaim, generate_claims
from senhealth.emr.claims.validate import validate_table
from senhealth.emr.pki.certificate_authority import build_intermediate, build_root, issue_organization
from senhealth.emr.pki.keys import LocalSigningKey
from senhealth.fhir.store import FhirStore

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Row:
    name: str
    files: int
    accepted: int
    refused: int
    resources: int
    seconds: float
    python_ms: float = 0.0
    server_ms: float = 0.0
    note: str = ""

    def line(self) -> str:
        rate = self.files / self.seconds if self.seconds else 0.0
        per = self.resources / self.seconds if self.seconds else 0.0
        cpu = f"{self.python_ms:.1f} + {self.server_ms:.1f}" if self.server_ms or self.python_ms else ""
        return (
            f"| {self.name} | {self.files:,} | {self.accepted:,} / {self.refused:,} | {self.resources:,} "
            f"| {self.seconds:.1f} | **{rate:,.1f}** | {per:,.0f} | {cpu} | {self.note} |"
        )


def facility_key() -> tuple[LocalSigningKey, x509.Certificate]:
    """A facility's signing key under a throwaway root and intermediate (the platform's CA code)."""
    root_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    root_cert = build_root(root_key, name="Bench root CA")
    root = LocalSigningKey(root_cert, (), root_key)
    inter_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    inter_cert = build_intermediate(root, inter_key.public_key(), urls=None, name="Bench issuing CA")
    inter = LocalSigningKey(inter_cert, (root_cert,), inter_key)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = issue_organization(
        inter, key.public_key(), organization_id="01001", name="Cơ sở KBCB 01001", urls=None
    )
    return LocalSigningKey(cert, (inter_cert, root_cert), key), root_cert


def verify_only(claims: Sequence[SyntheticClaim], roots: list[x509.Certificate]) -> Row:
    cpu, wall = time.process_time(), time.perf_counter()
    ok = 0
    for claim in claims:
        try:
            signed = verify_envelope(claim.data, trust_roots=roots).signed_root
        except ValueError:
            continue
        errors = [e for f in read_envelope(signed).records[0] for e in validate_table(f.kind, f.content)]
        ok += not errors
    seconds = time.perf_counter() - wall
    return Row(
        "verify and validate only (no database)",
        len(claims),
        ok,
        len(claims) - ok,
        0,
        seconds,
        python_ms=(time.process_time() - cpu) * 1000 / len(claims),
        note="parse, XMLDSig, field checks",
    )


async def _live(store: FhirStore) -> int:
    async with store.pool.connection() as conn:
        cur = await conn.execute("SELECT count(*) FROM fhir_resource")
        row = await cur.fetchone()
    return int(row[0]) if row else 0


async def _import(
    url: str,
    name: str,
    claims: Sequence[SyntheticClaim],
    roots: list[x509.Certificate],
    in_flight: int,
    note: str,
) -> Row:
    pool = create_pool(url, min_size=1, max_size=max(4, in_flight + 1))
    await pool.open(wait=True)
    store = FhirStore(pool)
    try:
        await store.param_ids()
        before = await _live(store)
        server0, cpu0, wall0 = await server_cpu(store), time.process_time(), time.perf_counter()
        pairs: list[tuple[SyntheticClaim, ImportResult]] = []
        queue = list(claims)

        async def worker() -> None:
            while queue:
                claim = queue.pop(0)
                pairs.append((claim, await import_claim(store, claim.data, trust_roots=roots)))

        await asyncio.gather(*(worker() for _ in range(in_flight)))
        seconds = time.perf_counter() - wall0
        cpu = time.process_time() - cpu0
        server = await server_cpu(store) - server0
        written = await _live(store) - before
    finally:
        await pool.close()
    results = [r for _, r in pairs]
    accepted = [r for r in results if r.accepted]
    check(pairs, written)
    return Row(
        name,
        len(claims),
        len(accepted),
        len(results) - len(accepted),
        written,
        seconds,
        python_ms=cpu * 1000 / len(claims),
        server_ms=server * 1000 / len(claims),
        note=note,
    )


def check(pairs: Sequence[tuple[SyntheticClaim, ImportResult]], written: int) -> None:
    """Every file accepted or refused as generated: a broken file refused with the field-level reason of its
    defect (the expression it was broken at), a sound one accepted; nothing of a refused file written (the
    store grew by exactly what the accepted files' transactions created)."""
    wrong: list[str] = []
    for claim, result in pairs:
        expressions = {issue.expression for issue in result.issues}
        if claim.defect is None and not result.accepted:
            wrong.append(f"{claim.name}: sound but refused: {sorted(expressions)[:3]}")
        elif claim.defect is not None and (result.accepted or not set(claim.expected) <= expressions):
            wrong.append(
                f"{claim.name}: {claim.defect}: expected {claim.expected}, got {sorted(expressions)[:3]}"
            )
    created = sum(r.created for _, r in pairs if r.accepted)
    if written != created:
        wrong.append(f"the store grew by {written} resources, the accepted files created {created}")
    if wrong:
        raise SystemExit("claim import check failed:\n" + "\n".join(wrong[:20]))


def run(server: str, files: int, seed: int, broken: float) -> tuple[list[Row], int]:
    key, root = facility_key()
    t0 = time.perf_counter()
    claims = list(generate_claims(files, seed=seed, key=key, broken=broken))
    print(f"generated {len(claims)} files in {time.perf_counter() - t0:.1f} s")
    roots = [root]
    rows = [verify_only(claims, roots)]
    defects = sum(1 for c in claims if c.defect)
    with scratch_database(server) as url:
        rows.append(
            asyncio.run(
                _import(url, "import, one file at a time", claims, roots, 1, "one transaction per file")
            )
        )
        rows.append(
            asyncio.run(_import(url, "the same files again", claims, roots, 1, "nothing new is written"))
        )
    with scratch_database(server) as url:
        rows.append(
            asyncio.run(_import(url, "import, 4 files in flight", claims, roots, 4, "4 concurrent imports"))
        )
    return rows, defects


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.claims_import", description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--broken", type=float, default=0.1, help="share of files broken on purpose")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "claims_import.md")
    args = parser.parse_args(argv)
    server = os.environ.get("SENHEALTH_BENCH_DATABASE_URL", DEFAULT_SERVER)
    load_before = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    rows, defects = run(server, args.files, args.seed, args.broken)
    with psycopg.connect(server) as conn:
        version = conn.execute("SHOW server_version").fetchone()
        durability = conn.execute(
            "SELECT current_setting('fsync'), current_setting('synchronous_commit')"
        ).fetchone()
    lines = [
        f"Machine: {machine()}",
        f"PostgreSQL {version[0] if version else '?'} on the same machine, fsync={durability[0] if durability else '?'}, "
        f"synchronous_commit={durability[1] if durability else '?'}",
        "",
        f"Load average before the run: {load_before}",
        "",
        f"{args.files:,} generated claim files (seed {args.seed}), {defects:,} broken on purpose, signed RSA-SHA256 "
        "by a facility certificate. Checked on every import run (the bench stops otherwise): each broken file "
        "refused with the field-level reason of its defect (the expression it was broken at), each sound file "
        "accepted, and the store grown by exactly what the accepted files' transactions created (nothing of a "
        "refused file written).",
        "",
        "Resources written: the resources in the store after the run less those before it.",
        "",
        "| run | files | accepted / refused | resources written | seconds | files/s | resources/s "
        "| CPU ms/file: this process + PostgreSQL | note |",
        "|---|---:|---:|---:|---:|---:|---:|---|---|",
        *(r.line() for r in rows),
    ]
    text = "\n".join(lines)
    print(text)
    args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
