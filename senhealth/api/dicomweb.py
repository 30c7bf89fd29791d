"""DICOMweb at ``/dicomweb``: STOW-RS, QIDO-RS and WADO-RS (instances, metadata, frames, bulk data,
rendered images) over the archive of :mod:`senhealth.imaging.storage`.

Spec: PS3.18 https://dicom.nema.org/medical/dicom/current/output/chtml/part18/PS3.18.html: STOW-RS
§10.5 (``POST /studies[/{study}]``, multipart/related of ``application/dicom``; 200 all stored, 202 some
failed, 409 none stored, with the Store Instances Response Module: ReferencedSOPSequence,
FailedSOPSequence with FailureReason), QIDO-RS §10.6 (``/studies``, ``/series``, ``/instances`` and the
nested forms; ``application/dicom+json``), WADO-RS §10.4 (``/studies/{s}[/series/{se}[/instances/{i}]]``
as multipart/related; ``.../metadata``; ``.../frames/{n,..}``; ``.../rendered`` PNG or JPEG with
``window``, ``viewport``, ``quality``; ``.../bulkdata/{tag}``).

Authentication is the platform's bearer token (the :class:`senhealth.api.authn.Authentication` middleware
covers every path here). Access: STOW needs ``create`` on ImagingStudy, QIDO ``search``, WADO ``read``; a
study of a patient outside the caller's restriction answers 404 (WADO) or is left out (QIDO), as an
ImagingStudy would be; de-identified access is refused (403): research gets de-identified copies
through the export (docs/imaging-dicom.md). Every request is audited: STOW in its write transaction (per
study), QIDO as a search naming the patients returned, WADO as a read of the study.

Transfer syntaxes (PS3.18 §8.7.3.5): ``transfer-syntax=*`` returns each instance as stored, byte for
byte; no parameter asks for Explicit VR Little Endian, which native (uncompressed) instances are
converted to; compressed instances are returned as stored, their part's Content-Type naming their
transfer syntax (this server does not decompress).
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from typing import Any, Final

import orjson
from fastapi import APIRouter, Request
from pydicom import dcmread
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian
from starlette.responses import Response, StreamingResponse

from senhealth.api.fhir.auditing import record_access
from senhealth.api.fhir.authz import authorize, can_see
from senhealth.api.fhir.context import get_store
from senhealth.api.fhir.errors import FhirError
from senhealth.fhir.access import Restriction, current_principal
from senhealth.fhir.search.execute import visible_pkeys
from senhealth.fhir.store import FhirStore
from senhealth.imaging.config import ImagingConfig, get_config
from senhealth.imaging.dicomweb import multipart
from senhealth.imaging.dicomweb.render import RenderError, frame_bytes, parse_viewport, parse_window, render
from senhealth.imaging.storage import BlobStore, InvalidUID, blob_store, check_uid, ingest
from senhealth.imaging.storage.dataset import BULK_PREFIX
from senhealth.imaging.storage.index import InstanceRow, instance_rows
from senhealth.imaging.storage.query import MAX_LIMIT, Level, Query, QueryError, run_query

__all__ = ["BASE", "dicomweb_router"]

BASE: Final = "/dicomweb"
DICOM_JSON: Final = "application/dicom+json"
_NATIVE: Final = frozenset({ImplicitVRLittleEndian, ExplicitVRLittleEndian})
_QIDO_CONTROL: Final = frozenset({"includefield", "fuzzymatching", "limit", "offset"})


def _json(content: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(content), status_code=status, media_type=DICOM_JSON, headers=headers)


def _uid(value: str, what: str) -> str:
    try:
        return check_uid(value, what)
    except InvalidUID as exc:
        raise FhirError(400, str(exc), code="invalid") from None


def _base(request: Request) -> str:
    configured = get_config().public_url
    return configured.rstrip("/") if configured else str(request.base_url).rstrip("/") + BASE


def _no_deidentified(restriction: Restriction | None) -> None:
    if restriction is not None and restriction.deidentified:
        raise FhirError(
            403,
            "De-identified access does not reach DICOM images: ask for a de-identified research export",
            code="forbidden",
        )


def _accepts(request: Request, *offered: str) -> list[tuple[str, dict[str, str]]]:
    """The Accept header's entries (media type, params) that name one of ``offered`` (or a wildcard)."""
    header = request.headers.get("accept", "") or "*/*"
    out = []
    for item in header.split(","):
        media, params = multipart.media_type_params(item)
        if (
            media in offered
            or media in ("*/*", "")
            or (media.endswith("/*") and any(o.startswith(media[:-1]) for o in offered))
        ):
            out.append((media, params))
    return out


class _Archive:
    """What the routes share: the settings, the file store, the FHIR store."""

    def __init__(self, config: ImagingConfig | None) -> None:
        self._config = config
        self._blobs: BlobStore | None = None

    @property
    def config(self) -> ImagingConfig:
        return self._config or get_config()

    def blobs(self, request: Request) -> BlobStore:
        if self._blobs is None:
            self._blobs = blob_store(self.config, request.app.state.settings.data_dir)
        return self._blobs


async def _visible_rows(
    store: FhirStore, restriction: Restriction | None, rows: list[InstanceRow]
) -> list[InstanceRow]:
    if not rows:
        return rows
    if restriction is None or await can_see(store, restriction, rows[0].patient_ref):
        return rows
    return []


async def _find(
    request: Request,
    study: str,
    series: str | None = None,
    sop: str | None = None,
    *,
    with_attrs: bool = False,
) -> tuple[FhirStore, list[InstanceRow]]:
    """The instances addressed (404 when none the caller may see), the read audited."""
    restriction = authorize("read", "ImagingStudy")
    _no_deidentified(restriction)
    _uid(study, "the study UID")
    if series is not None:
        _uid(series, "the series UID")
    if sop is not None:
        _uid(sop, "the SOP instance UID")
    store = get_store(request)
    async with store.pool.connection() as conn:
        rows = await instance_rows(conn, study, series, sop, with_attrs=with_attrs)
    rows = await _visible_rows(store, restriction, rows)
    what = "instance" if sop else "series" if series else "study"
    if not rows:
        await record_access(request.scope, store, "read", "ImagingStudy", study, status=404)
        raise FhirError(404, f"No such {what} in the archive", code="not-found")
    await record_access(
        request.scope,
        store,
        "read",
        "ImagingStudy",
        study,
        patients=[rows[0].patient_ref],
        details={"dicomweb": "WADO-RS", "path": request.url.path, "instances": len(rows)},
    )
    return store, rows


def _to_explicit(data: bytes) -> bytes:
    ds = dcmread(io.BytesIO(data))
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True, implicit_vr=False, little_endian=True)
    return out.getvalue()


def _retrieve_syntax(request: Request) -> str | None:
    """The transfer syntax asked for: ``*`` (as stored), a UID, or Explicit VR Little Endian by default."""
    entries = _accepts(request, "multipart/related", "application/dicom")
    if not entries:
        raise FhirError(
            406, 'Only multipart/related; type="application/dicom" is served here', code="not-supported"
        )
    for media, params in entries:
        kind = params.get("type", "application/dicom").lower()
        if media == "multipart/related" and kind not in ("application/dicom", "application/*", "*/*"):
            continue
        return params.get("transfer-syntax", ExplicitVRLittleEndian)
    raise FhirError(
        406, 'Only multipart/related; type="application/dicom" is served here', code="not-supported"
    )


async def _part10_parts(
    blobs: BlobStore, rows: list[InstanceRow], syntax: str | None
) -> AsyncIterator[tuple[str, bytes]]:
    for row in rows:
        data = await asyncio.to_thread(blobs.get, row.storage_key)
        stored = row.transfer_syntax
        if syntax not in ("*", stored) and stored in _NATIVE and syntax == ExplicitVRLittleEndian:
            data = await asyncio.to_thread(_to_explicit, data)
            stored = ExplicitVRLittleEndian
        yield f"application/dicom; transfer-syntax={stored}", data


def _check_syntaxes(rows: list[InstanceRow], syntax: str | None) -> None:
    if syntax in (None, "*", ExplicitVRLittleEndian):
        return
    if any(r.transfer_syntax != syntax for r in rows):
        raise FhirError(406, f"Instances are not available in transfer syntax {syntax}", code="not-supported")


def _metadata(rows: list[InstanceRow], base: str) -> list[dict[str, Any]]:
    out = []
    for row in rows:
        attrs = dict(row.attrs or {})
        url = f"{base}/studies/{row.study_uid}/series/{row.series_uid}/instances/{row.sop_uid}"
        for tag, element in attrs.items():
            uri = element.get("BulkDataURI") if isinstance(element, dict) else None
            if isinstance(uri, str) and uri.startswith(BULK_PREFIX):
                attrs[tag] = {**element, "BulkDataURI": f"{url}/bulkdata/{uri[len(BULK_PREFIX) :]}"}
        out.append(attrs)
    return out


def _frames(value: str) -> list[int]:
    try:
        frames = [int(f) for f in value.split(",") if f.strip()]
    except ValueError:
        raise FhirError(400, "frames: a comma-separated list of frame numbers", code="invalid") from None
    if not frames or any(f < 1 for f in frames) or len(frames) > 10000:
        raise FhirError(400, "frames: numbers from 1", code="invalid")
    return frames


def _qido(level: Level, request: Request, study: str | None = None, series: str | None = None) -> Query:
    query = Query(level, study_uid=study, series_uid=series)
    try:
        for name, value in request.query_params.multi_items():
            if name == "includefield":
                for item in value.split(","):
                    item = item.strip()
                    if item == "all":
                        query.include_all = True
                    elif item:
                        query.add(item, "")
            elif name == "fuzzymatching":
                query.fuzzy = value.lower() == "true"
            elif name in ("limit", "offset"):
                number = int(value)
                if number < 0 or (name == "limit" and not 1 <= number <= MAX_LIMIT):
                    raise QueryError(f"{name}: out of range")
                setattr(query, name, number)
            else:
                query.add(name, value)
    except ValueError as exc:
        raise FhirError(400, str(exc), code="invalid") from None
    return query


async def _run_qido(request: Request, query: Query) -> Response:
    if not _accepts(request, DICOM_JSON, "application/json"):
        raise FhirError(406, "QIDO-RS answers application/dicom+json only", code="not-supported")
    restriction = authorize("search", "ImagingStudy")
    _no_deidentified(restriction)
    store = get_store(request)
    async with store.pool.connection() as conn:
        visible = None
        if restriction is not None:
            ids = await store.param_ids()

            async def visible_of(pkeys: list[str]) -> set[str]:
                return set(await visible_pkeys(conn, restriction, pkeys, ids))

            visible = visible_of
        try:
            results, patients = await run_query(conn, query, _base(request), visible=visible)
        except QueryError as exc:
            raise FhirError(400, str(exc), code="invalid") from None
    await record_access(
        request.scope,
        store,
        "search",
        "ImagingStudy",
        patients=patients,
        details={"dicomweb": "QIDO-RS", "level": query.level, "results": len(results)},
    )
    headers = (
        {"Warning": ", ".join(f'299 senhealth "{w}"' for w in query.warnings)} if query.warnings else None
    )
    if not results:
        return Response(status_code=204, headers=headers)
    return _json(results, headers=headers)


def dicomweb_router(config: ImagingConfig | None = None) -> APIRouter:
    """The DICOMweb routes (see the module docstring); ``config``: default :func:`get_config`."""
    router = APIRouter(prefix=BASE, tags=["dicomweb"])
    archive = _Archive(config)

    # -- STOW-RS ----------------------------------------------------------------------------------------

    async def stow(request: Request, study: str | None) -> Response:
        restriction = authorize("create", "ImagingStudy")
        _no_deidentified(restriction)
        if study is not None:
            _uid(study, "the study UID")
        content_type = request.headers.get("content-type", "")
        media, params = multipart.media_type_params(content_type)
        limit = archive.config.max_stow_bytes
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise FhirError(413, f"The request is larger than {limit} bytes", code="too-costly")
            chunks.append(chunk)
        body = b"".join(chunks)
        if media == "application/dicom":
            blobs = [body]
        elif media == "multipart/related":
            kind = params.get("type", "application/dicom").lower()
            if kind != "application/dicom":
                raise FhirError(
                    415, f"Only application/dicom parts are accepted, not {kind}", code="not-supported"
                )
            try:
                parts = multipart.parse(body, content_type)
            except multipart.MultipartError as exc:
                raise FhirError(400, str(exc), code="invalid") from None
            wrong = [
                p.content_type
                for p in parts
                if multipart.media_type_params(p.content_type)[0] not in ("", "application/dicom")
            ]
            if wrong:
                raise FhirError(
                    415, f"Only application/dicom parts are accepted, not {wrong[0]}", code="not-supported"
                )
            blobs = [p.data for p in parts]
        else:
            raise FhirError(415, 'Send multipart/related; type="application/dicom"', code="not-supported")
        if not blobs:
            raise FhirError(400, "The request holds no instance", code="invalid")
        client = request.scope.get("client")
        result = await ingest(
            get_store(request),
            archive.blobs(request),
            archive.config,
            blobs,
            source="STOW-RS",
            principal=current_principal().get(),
            source_ip=str(client[0]) if client else None,
            expected_study=study,
        )
        base = _base(request)
        body_out: dict[str, Any] = {}
        if study is not None or len({s.study_uid for s in result.stored}) == 1:
            uid = study or result.stored[0].study_uid
            body_out["00081190"] = {"vr": "UR", "Value": [f"{base}/studies/{uid}"]}
        if result.stored:
            body_out["00081199"] = {
                "vr": "SQ",
                "Value": [
                    {
                        "00081150": {"vr": "UI", "Value": [s.sop_class_uid]},
                        "00081155": {"vr": "UI", "Value": [s.sop_uid]},
                        "00081190": {
                            "vr": "UR",
                            "Value": [
                                f"{base}/studies/{s.study_uid}/series/{s.series_uid}/instances/{s.sop_uid}"
                            ],
                        },
                    }
                    for s in result.stored
                ],
            }
        if result.failed:
            body_out["00081198"] = {
                "vr": "SQ",
                "Value": [
                    {
                        **({"00081150": {"vr": "UI", "Value": [f.sop_class_uid]}} if f.sop_class_uid else {}),
                        **({"00081155": {"vr": "UI", "Value": [f.sop_uid]}} if f.sop_uid else {}),
                        "00081197": {"vr": "US", "Value": [f.reason]},
                    }
                    for f in result.failed
                ],
            }
        status = 200 if not result.failed else 202 if result.stored else 409
        return _json(body_out, status)

    @router.post("/studies", summary="STOW-RS: store instances")
    async def stow_studies(request: Request) -> Response:
        return await stow(request, None)

    @router.post("/studies/{study}", summary="STOW-RS: store instances of one study")
    async def stow_study(study: str, request: Request) -> Response:
        return await stow(request, study)

    # -- QIDO-RS ----------------------------------------------------------------------------------------

    @router.get("/studies", summary="QIDO-RS: search for studies")
    async def qido_studies(request: Request) -> Response:
        return await _run_qido(request, _qido("study", request))

    @router.get("/series", summary="QIDO-RS: search for series")
    async def qido_series(request: Request) -> Response:
        return await _run_qido(request, _qido("series", request))

    @router.get("/instances", summary="QIDO-RS: search for instances")
    async def qido_instances(request: Request) -> Response:
        return await _run_qido(request, _qido("instance", request))

    @router.get("/studies/{study}/series", summary="QIDO-RS: search for a study's series")
    async def qido_study_series(study: str, request: Request) -> Response:
        return await _run_qido(request, _qido("series", request, _uid(study, "the study UID")))

    @router.get("/studies/{study}/instances", summary="QIDO-RS: search for a study's instances")
    async def qido_study_instances(study: str, request: Request) -> Response:
        return await _run_qido(request, _qido("instance", request, _uid(study, "the study UID")))

    @router.get(
        "/studies/{study}/series/{series}/instances", summary="QIDO-RS: search for a series' instances"
    )
    async def qido_series_instances(study: str, series: str, request: Request) -> Response:
        query = _qido("instance", request, _uid(study, "the study UID"), _uid(series, "the series UID"))
        return await _run_qido(request, query)

    # -- WADO-RS: instances -----------------------------------------------------------------------------

    async def retrieve(
        request: Request, study: str, series: str | None = None, sop: str | None = None
    ) -> Response:
        syntax = _retrieve_syntax(request)
        _, rows = await _find(request, study, series, sop)
        _check_syntaxes(rows, syntax)
        boundary = multipart.new_boundary()
        body = multipart.stream(_part10_parts(archive.blobs(request), rows, syntax), boundary)
        return StreamingResponse(
            body, media_type=f'multipart/related; type="application/dicom"; boundary={boundary}'
        )

    @router.get("/studies/{study}", summary="WADO-RS: retrieve a study")
    async def wado_study(study: str, request: Request) -> Response:
        return await retrieve(request, study)

    @router.get("/studies/{study}/series/{series}", summary="WADO-RS: retrieve a series")
    async def wado_series(study: str, series: str, request: Request) -> Response:
        return await retrieve(request, study, series)

    @router.get("/studies/{study}/series/{series}/instances/{sop}", summary="WADO-RS: retrieve an instance")
    async def wado_instance(study: str, series: str, sop: str, request: Request) -> Response:
        return await retrieve(request, study, series, sop)

    # -- WADO-RS: metadata ------------------------------------------------------------------------------

    async def metadata(
        request: Request, study: str, series: str | None = None, sop: str | None = None
    ) -> Response:
        if not _accepts(request, DICOM_JSON, "application/json"):
            raise FhirError(406, "Metadata is served as application/dicom+json only", code="not-supported")
        _, rows = await _find(request, study, series, sop, with_attrs=True)
        return _json(_metadata(rows, _base(request)))

    @router.get("/studies/{study}/metadata", summary="WADO-RS: a study's metadata")
    async def metadata_study(study: str, request: Request) -> Response:
        return await metadata(request, study)

    @router.get("/studies/{study}/series/{series}/metadata", summary="WADO-RS: a series' metadata")
    async def metadata_series(study: str, series: str, request: Request) -> Response:
        return await metadata(request, study, series)

    @router.get(
        "/studies/{study}/series/{series}/instances/{sop}/metadata", summary="WADO-RS: an instance's metadata"
    )
    async def metadata_instance(study: str, series: str, sop: str, request: Request) -> Response:
        return await metadata(request, study, series, sop)

    # -- WADO-RS: frames, bulk data, rendered -----------------------------------------------------------

    async def _instance_bytes(request: Request, study: str, series: str, sop: str) -> bytes:
        _, rows = await _find(request, study, series, sop)
        return await asyncio.to_thread(archive.blobs(request).get, rows[0].storage_key)

    @router.get("/studies/{study}/series/{series}/instances/{sop}/frames/{frames}", summary="WADO-RS: frames")
    async def wado_frames(study: str, series: str, sop: str, frames: str, request: Request) -> Response:
        numbers = _frames(frames)
        if not _accepts(request, "multipart/related", "application/octet-stream"):
            raise FhirError(
                406,
                'Frames are served as multipart/related; type="application/octet-stream"',
                code="not-supported",
            )
        data = await _instance_bytes(request, study, series, sop)
        try:
            cut = [await asyncio.to_thread(frame_bytes, data, n) for n in numbers]
        except RenderError as exc:
            raise FhirError(
                exc.status, str(exc), code="not-found" if exc.status == 404 else "not-supported"
            ) from None
        boundary = multipart.new_boundary()
        parts = [(f"application/octet-stream; transfer-syntax={syntax}", raw) for raw, syntax in cut]
        return StreamingResponse(
            multipart.stream(parts, boundary),
            media_type=f'multipart/related; type="application/octet-stream"; boundary={boundary}',
        )

    @router.get(
        "/studies/{study}/series/{series}/instances/{sop}/bulkdata/{tag}", summary="WADO-RS: bulk data"
    )
    async def wado_bulkdata(study: str, series: str, sop: str, tag: str, request: Request) -> Response:
        if len(tag) != 8 or any(c not in "0123456789ABCDEFabcdef" for c in tag):
            raise FhirError(400, "bulkdata: an attribute tag of 8 hexadecimal digits", code="invalid")
        data = await _instance_bytes(request, study, series, sop)
        ds = await asyncio.to_thread(dcmread, io.BytesIO(data))
        element = ds.get(int(tag, 16))
        if element is None or not isinstance(element.value, bytes):
            raise FhirError(404, f"The instance has no bulk data at {tag}", code="not-found")
        boundary = multipart.new_boundary()
        return StreamingResponse(
            multipart.stream([("application/octet-stream", element.value)], boundary),
            media_type=f'multipart/related; type="application/octet-stream"; boundary={boundary}',
        )

    async def rendered(request: Request, study: str, series: str, sop: str, frame: int) -> Response:
        entries = _accepts(request, "image/png", "image/jpeg")
        if not entries:
            raise FhirError(406, "Rendered images are image/png or image/jpeg", code="not-supported")
        media = next((m for m, _ in entries if m in ("image/png", "image/jpeg")), "image/png")
        q = request.query_params
        try:
            window = parse_window(q.get("window"))
            viewport = parse_viewport(q.get("viewport"))
            quality = int(q.get("quality", "90"))
        except (RenderError, ValueError) as exc:
            raise FhirError(400, str(exc), code="invalid") from None
        data = await _instance_bytes(request, study, series, sop)
        try:
            image = await asyncio.to_thread(
                render, data, frame, media_type=media, window=window, viewport=viewport, quality=quality
            )
        except RenderError as exc:
            raise FhirError(
                exc.status, str(exc), code="not-found" if exc.status == 404 else "not-supported"
            ) from None
        return Response(image, media_type=media)

    @router.get(
        "/studies/{study}/series/{series}/instances/{sop}/rendered", summary="WADO-RS: rendered instance"
    )
    async def rendered_instance(study: str, series: str, sop: str, request: Request) -> Response:
        return await rendered(request, study, series, sop, 1)

    @router.get(
        "/studies/{study}/series/{series}/instances/{sop}/frames/{frame}/rendered",
        summary="WADO-RS: rendered frame",
    )
    async def rendered_frame(study: str, series: str, sop: str, frame: str, request: Request) -> Response:
        numbers = _frames(frame)
        if len(numbers) != 1:
            raise FhirError(400, "Render one frame at a time", code="invalid")
        return await rendered(request, study, series, sop, numbers[0])

    return router
