"""The batch de-duplication job (task ``mpi.deduplicate``): match every Patient, link the certain pairs,
queue the doubtful ones for review.

Spec: ``Patient.link`` https://hl7.org/fhir/R4/patient.html#links (``replaces`` / ``replaced-by``);
the matcher and thresholds: :mod:`senhealth.mpi.match` and docs/mpi.md.

One run (:func:`run_deduplication`):

1. reads every Patient from the FHIR store (search API, pages of :data:`PAGE`, no access restriction:
   a system job) and the comparison keys of each (:func:`senhealth.mpi.record.match_row`);
2. decides which records to act on: all (``full``), or only those whose comparison keys changed since
   the last run (a digest per record in ``mpi_dedup_state``, migration 0010; no timestamps, so writes
   that commit out of order are not missed). With nothing changed it stops there;
3. scores the **whole** population (:func:`senhealth.mpi.match.deduplicate_rows`): blocking and the
   name frequencies are those of all records, so an incremental run scores exactly like a full one,
   but only pairs with at least one changed record are acted on;
4. maps each pair onto the records in use (a record merged away, ``replaced-by``, stands for the record
   that replaced it) and skips pairs already linked (the same ``Patient.link`` group: ``replaces``,
   ``replaced-by``, ``seealso``) and pairs a reviewer decided ``distinct``;
5. automatic links are grouped (connected components); each group gets one survivor, the record that
   already replaces others, else the most complete, else the oldest (lowest store row id), and every
   other member is merged into it with :func:`senhealth.mpi.link.link` (``by`` = :data:`BY`; each merge
   writes its audit event). A group that would join two records a reviewer decided ``distinct`` is sent
   to review instead;
6. review-band pairs go to :func:`senhealth.mpi.review.enqueue_pairs` (which never re-opens a decided
   pair and only refreshes the score of an open one);
7. the digests of the records acted on are stored.

Idempotent: a second run finds the links in the records and the pairs in the queue, and writes nothing
(an incremental run does not even score). Progress is reported through the queue's progress API
(``senhealth jobs show``, ``GET /api/jobs/{id}``). Runs do not overlap: a run that finds another one
holding the advisory lock :data:`LOCK_KEY` stops at once and says so.

Schedule: :data:`NIGHTLY_CRON` (02:00 in Vietnam, UTC+7), incremental, registered when this module is
imported (the worker imports it through ``senhealth.jobs.registry.TASK_MODULES``). The CLI
``senhealth mpi dedup [--full] [--wait]`` enqueues a run or runs it in the foreground.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import orjson

from senhealth.core.db import get_pool, transaction
from senhealth.core.queue import JobContext, schedule, task
from senhealth.fhir.search.execute import search
from senhealth.fhir.search.request import parse_search
from senhealth.fhir.store import FhirStore, Gone, NotFound
from senhealth.mpi.link import FOLLOWED, LinkError, link
from senhealth.mpi.match import MatchResult, ScoredPair, Thresholds, deduplicate_rows
from senhealth.mpi.record import candidate_from_patient, match_row
from senhealth.mpi.review import enqueue_pairs, ordered

__all__ = [
    "BY",
    "LOCK_KEY",
    "NIGHTLY_CRON",
    "PAGE",
    "TASK",
    "DedupReport",
    "choose_survivor",
    "deduplicate_job",
    "run_deduplication",
]

TASK: Final = "mpi.deduplicate"
#: Who the automatic merges are recorded as (audit events, ``link(by=...)``).
BY: Final = "system:mpi-deduplicate"
#: 19:00 UTC every day = 02:00 in Vietnam (UTC+7), an incremental run.
NIGHTLY_CRON: Final = "0 19 * * *"
#: Patients read per search page.
PAGE: Final = 1000
#: PostgreSQL advisory lock held for the length of a run ("MPIDEDUP").
LOCK_KEY: Final = 0x4D5049_44454450
#: How many ``replaced-by`` steps are followed to find the record in use (a bound on malformed chains).
_MAX_HOPS: Final = 20

ProgressFn = Callable[[int, int | None, str], Awaitable[None]]


@dataclass
class DedupReport:
    """What one run did (also logged as the job's last progress message)."""

    full: bool
    records: int = 0  # Patients read
    changed: int = 0  # records acted on (all of them in a full run)
    scored_links: int = 0  # pairs the matcher would link (before skipping)
    scored_review: int = 0  # pairs in the review band (before skipping)
    merged: int = 0  # merges written now
    already_linked: int = 0  # pairs skipped: already one Patient.link group
    distinct: int = 0  # pairs skipped: a reviewer decided they are two people
    review_new: int = 0  # pairs newly queued for review
    review_sent: int = 0  # pairs handed to the review queue (new or still open)
    errors: list[str] = field(default_factory=list)  # merges that could not be written
    skipped: str | None = None  # why nothing was done (another run holds the lock)
    seconds: float = 0.0

    def summary(self) -> str:
        """One line for people (Vietnamese / English)."""
        if self.skipped:
            return f"Bỏ qua / skipped: {self.skipped}"
        return (
            f"Xong / done: {self.records} records, {self.changed} checked, {self.merged} merged, "
            f"{self.review_new} new review pairs, {self.already_linked} already linked, "
            f"{self.distinct} decided distinct, {len(self.errors)} errors, {self.seconds:.1f} s"
        )


@dataclass(frozen=True, slots=True)
class _Record:
    id: str
    rid: int
    content: dict[str, Any]


async def _noop(done: int, total: int | None, message: str) -> None:
    return None


# --- reading ------------------------------------------------------------------------------------------


async def _load_patients(store: FhirStore, progress: ProgressFn) -> list[_Record]:
    """Every live Patient, through the store's search (pages in ``_id`` order, keyset cursor)."""
    param_ids = await store.param_ids()
    async with transaction(store.pool) as conn:
        counted = await search(conn, parse_search("Patient", [("_summary", "count")]), param_ids)
    total = counted.total
    out: list[_Record] = []
    cursor: str | None = None
    while True:
        criteria = [("_count", str(PAGE))]
        if cursor:
            criteria.append(("_cursor", cursor))
        async with transaction(store.pool) as conn:
            page = await search(conn, parse_search("Patient", criteria), param_ids, timeout_s=0)
        out += [_Record(r.res_id, r.rid, r.content) for r in page.matches]
        await progress(len(out), total, "Đọc hồ sơ / reading patients")
        cursor = page.next_cursor
        if not cursor:
            return out


def _targets(content: Mapping[str, Any], types: Iterable[str]) -> list[str]:
    wanted = frozenset(types)
    out = []
    for entry in content.get("link") or []:
        if not isinstance(entry, dict) or entry.get("type") not in wanted:
            continue
        other = entry.get("other")
        ref = other.get("reference") if isinstance(other, dict) else None
        if isinstance(ref, str):
            parts = ref.split("/_history/")[0].split("/")
            if len(parts) >= 2 and parts[-2] == "Patient" and parts[-1]:
                out.append(parts[-1])
    return out


class _Groups:
    """Union-find over record ids (link groups)."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)

    def same(self, a: str, b: str) -> bool:
        return self.find(a) == self.find(b)


def _in_use(records: Mapping[str, _Record]) -> dict[str, str]:
    """Record id → the record in use for it (itself, or where its ``replaced-by`` links lead)."""
    out: dict[str, str] = {}
    for rid in records:
        current, seen = rid, {rid}
        for _ in range(_MAX_HOPS):
            nxt = [t for t in _targets(records[current].content, ("replaced-by",)) if t in records]
            if not nxt or nxt[0] in seen:
                break
            current = nxt[0]
            seen.add(current)
        out[rid] = current
    return out


def _row_hash(row: Mapping[str, Any]) -> str:
    data = {k: v for k, v in row.items() if k != "unique_id"}
    return hashlib.sha256(orjson.dumps(data, option=orjson.OPT_SORT_KEYS)).hexdigest()[:32]


def _completeness(content: Mapping[str, Any]) -> int:
    """How much identifying data a record holds (survivor choice: the more, the better)."""
    row = match_row(candidate_from_patient(content))
    keys = sum(1 for k, v in row.items() if k != "unique_id" and v is not None)
    extra = sum(len(content.get(k) or ()) for k in ("identifier", "telecom", "address", "name"))
    return keys * 10 + extra


def _rank(record: _Record) -> tuple[int, int, int, str]:
    """Survivor order: already replaces others, then more complete, then older (lower row id), then id."""
    content = record.content
    return (-len(_targets(content, ("replaces",))), -_completeness(content), record.rid, record.id)


async def choose_survivor(store: FhirStore, *patient_ids: str) -> str:
    """Which of ``patient_ids`` the job would keep when merging them (:func:`_rank`)."""
    records = []
    for pid in patient_ids:
        stored = await store.read("Patient", pid)
        records.append(_Record(pid, stored.rid, stored.content or {}))
    return min(records, key=_rank).id


async def _distinct(store: FhirStore) -> set[tuple[str, str]]:
    """The review queue's pairs a reviewer decided are two people."""
    async with transaction(store.pool) as conn:
        cur = await conn.execute("SELECT patient_a, patient_b FROM mpi_review WHERE status = 'distinct'")
        return {(str(a), str(b)) for a, b in await cur.fetchall()}


async def _previous(store: FhirStore) -> dict[str, str]:
    async with transaction(store.pool) as conn:
        cur = await conn.execute("SELECT patient_id, row_hash FROM mpi_dedup_state")
        return {str(a): str(b) for a, b in await cur.fetchall()}


async def _remember(store: FhirStore, hashes: Mapping[str, str]) -> None:
    if not hashes:
        return
    ids = sorted(hashes)
    async with transaction(store.pool) as conn:
        await conn.execute(
            "INSERT INTO mpi_dedup_state (patient_id, row_hash) SELECT * FROM unnest(%s::text[], %s::text[])"
            " ON CONFLICT (patient_id) DO UPDATE SET row_hash = EXCLUDED.row_hash, checked_at = now()"
            " WHERE mpi_dedup_state.row_hash IS DISTINCT FROM EXCLUDED.row_hash",
            (ids, [hashes[i] for i in ids]),
        )


# --- deciding -----------------------------------------------------------------------------------------


@dataclass
class _Plan:
    merges: list[tuple[str, str]]  # (survivor, duplicate)
    review: list[ScoredPair]


def _plan(
    result: MatchResult,
    records: Mapping[str, _Record],
    changed: set[str],
    distinct: set[tuple[str, str]],
    report: DedupReport,
) -> _Plan:
    """Turn scored pairs into merges and review entries (see the module docstring, steps 4–6)."""
    use = _in_use(records)
    groups = _Groups()
    for rid, rec in records.items():
        for target in _targets(rec.content, FOLLOWED):
            if target in records:
                groups.union(rid, target)

    def relevant(pair: ScoredPair) -> bool:
        return not changed.isdisjoint((pair.left, pair.right))

    def is_distinct(a: str, b: str) -> bool:
        return a != b and ordered(a, b) in distinct

    # automatic links, on the records in use
    new_links: dict[tuple[str, str], ScoredPair] = {}
    held_back: list[ScoredPair] = []
    for pair in filter(relevant, result.links):
        a, b = use[pair.left], use[pair.right]
        if is_distinct(pair.left, pair.right) or is_distinct(a, b):
            report.distinct += 1
        elif a == b or groups.same(a, b):
            report.already_linked += 1
        else:
            new_links.setdefault(ordered(a, b), ScoredPair(*ordered(a, b), pair.probability, pair.reasons))
    linked = _Groups()
    for a, b in new_links:
        linked.union(a, b)
    members: dict[str, set[str]] = defaultdict(set)
    for a, b in new_links:
        members[linked.find(a)].update((a, b))
    merges: list[tuple[str, str]] = []
    moved: dict[str, str] = {}  # record in use → the survivor it is merged into now
    for group in sorted(members.values(), key=lambda g: min(g)):
        if any(is_distinct(x, y) for x in group for y in group if x < y):
            held_back += [p for k, p in new_links.items() if k[0] in group]  # a reviewer said two people
            continue
        survivor = min(group, key=lambda member: _rank(records[member]))
        for other in sorted(group - {survivor}):
            merges.append((survivor, other))
            groups.union(survivor, other)
            moved[other] = survivor
    # the review band, after this run's merges
    review: dict[tuple[str, str], ScoredPair] = {}
    for pair in [*filter(relevant, result.review), *held_back]:
        a, b = use[pair.left], use[pair.right]
        a, b = moved.get(a, a), moved.get(b, b)
        if is_distinct(pair.left, pair.right) or is_distinct(a, b):
            report.distinct += 1
            continue
        if a == b or groups.same(a, b):
            report.already_linked += 1
            continue
        key = ordered(a, b)
        if key not in review or review[key].probability < pair.probability:
            review[key] = ScoredPair(*key, pair.probability, pair.reasons)
    return _Plan(merges, [review[k] for k in sorted(review)])


# --- running ------------------------------------------------------------------------------------------


async def run_deduplication(
    store: FhirStore,
    *,
    full: bool = False,
    progress: ProgressFn | None = None,
    thresholds: Thresholds | None = None,
) -> DedupReport:
    """One de-duplication run over the store (module docstring); returns what it did."""
    started = time.monotonic()
    report = DedupReport(full=full)
    say = progress or _noop
    async with store.pool.connection() as lock_conn:
        cur = await lock_conn.execute("SELECT pg_try_advisory_lock(%s)", (LOCK_KEY,))
        row = await cur.fetchone()
        if not (row and row[0]):
            report.skipped = "another de-duplication run is in progress"
            await say(0, 0, report.summary())
            return report
        try:
            await _run(store, report, full, say, thresholds)
        finally:
            await lock_conn.execute("SELECT pg_advisory_unlock(%s)", (LOCK_KEY,))
    report.seconds = time.monotonic() - started
    await say(report.merged + report.review_sent, report.merged + report.review_sent, report.summary())
    return report


async def _run(
    store: FhirStore, report: DedupReport, full: bool, say: ProgressFn, thresholds: Thresholds | None
) -> None:
    loaded = await _load_patients(store, say)
    records = {r.id: r for r in loaded}
    report.records = len(records)
    rows = [{**match_row(candidate_from_patient(r.content)), "unique_id": r.id} for r in loaded]
    hashes = {row["unique_id"]: _row_hash(row) for row in rows}
    previous = {} if full else await _previous(store)
    changed = {rid for rid, h in hashes.items() if previous.get(rid) != h}
    report.changed = len(changed)
    if not changed:
        return
    await say(0, None, f"So khớp {len(rows)} hồ sơ / matching {len(rows)} records")
    result = await asyncio.to_thread(deduplicate_rows, rows, thresholds)
    report.scored_links, report.scored_review = len(result.links), len(result.review)
    distinct = await _distinct(store)
    plan = _plan(result, records, changed, distinct, report)
    steps = len(plan.merges) + 1
    failed: set[str] = set()
    for i, (survivor, duplicate) in enumerate(plan.merges):
        try:
            await link(store, survivor, duplicate, by=BY)
            report.merged += 1
        except (LinkError, NotFound, Gone) as exc:  # changed since it was read: the next run retries
            report.errors.append(f"Patient/{duplicate} → Patient/{survivor}: {exc}")
            failed.update((survivor, duplicate))
        if i % 50 == 0:
            await say(i + 1, steps, "Gộp hồ sơ trùng / merging duplicates")
    async with transaction(store.pool) as conn:
        report.review_new = await enqueue_pairs(conn, plan.review)
    report.review_sent = len(plan.review)
    await say(steps, steps, "Hàng đợi xem xét / review queue")
    await _remember(store, {rid: hashes[rid] for rid in changed - failed})


@task(TASK, retries=2, backoff_s=300)
async def deduplicate_job(job: JobContext, *, full: bool = False) -> dict[str, Any]:
    """The queued task: :func:`run_deduplication` on the platform's store, progress on the job."""
    report = await run_deduplication(FhirStore(get_pool()), full=bool(full), progress=job.progress)
    return {"merged": report.merged, "reviewNew": report.review_new, "errors": len(report.errors)}


schedule(TASK, cron=NIGHTLY_CRON, args={"full": False}, schedule_id="nightly")
