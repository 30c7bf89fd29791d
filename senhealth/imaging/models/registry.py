"""The AI model registry: models as DeviceDefinitions with their ONNX files, enabled per facility as Devices.

Spec: https://hl7.org/fhir/R4/devicedefinition.html, https://hl7.org/fhir/R4/device.html (the resources:
:mod:`.definition`); ONNX: https://onnx.ai/onnx/repo-docs/IR.html. Circular 46/2017 and Decree 98/2021 treat
software that reads images for diagnosis as a medical device: the registry keeps what each model is, who
may use it where, and every change (an audit event through the installed sink, in the same transaction).

- :func:`register_model` registers a model version: a model card (JSON, :class:`~.card.ModelCard`) and its
  ONNX file, whose SHA-256 must be the card's; the file is copied under ``<data_dir>/imaging-models/``.
  :func:`register_builtin` registers the models shipped with the platform (``demo-chest-nodule``), whose
  files stay in the package (``builtin:<file>``).
- :func:`enable` / :func:`disable` a model at a facility (``Organization/<id>``) or, without a facility, at
  every facility; a facility's own Device wins over the every-facility one. :func:`suspend` switches every
  enablement of a model off at once (the review's automatic suspension, :mod:`senhealth.imaging.review`).
- :func:`enabled_models` answers the inference trigger: which models run on a study of this modality and
  body part at this facility. :func:`model_file` finds the file and checks its digest.
"""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from senhealth.core.errors import SenHealthError
from senhealth.fhir.access import AccessEvent, Principal, audit_sink
from senhealth.fhir.search.execute import search
from senhealth.fhir.search.request import parse_search
from senhealth.fhir.store import FhirStore, NotFound
from senhealth.fhir.store.store import StoreTx
from senhealth.imaging.models.card import BUILTIN_DIR, CardError, ModelCard, builtin_cards
from senhealth.imaging.models.definition import (
    AI_SYSTEM,
    card_of,
    content_of,
    definition_resource,
    device_resource,
    device_state,
    file_url_of,
)

__all__ = [
    "MODELS_FOLDER",
    "EnabledModel",
    "Enablement",
    "ModelError",
    "RegisteredModel",
    "disable",
    "enable",
    "enabled_models",
    "find_model",
    "list_models",
    "model_file",
    "register_builtin",
    "register_model",
    "suspend",
]

#: Registered models' files, under the platform's data folder.
MODELS_FOLDER: Final = "imaging-models"
_BUILTIN: Final = "builtin:"
_ACTIONS: Final = {"enabled": "enable", "disabled": "disable", "suspended": "suspend"}


class ModelError(SenHealthError):
    """A registry request that cannot be done (unknown model, a file that does not match its card)."""

    code = "processing"

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class Enablement:
    facility: str | None  # Organization id; None: every facility
    state: str  # enabled | disabled | suspended
    reason: str
    device: dict[str, Any]

    @property
    def device_ref(self) -> str:
        return f"Device/{self.device['id']}"


@dataclass(frozen=True, slots=True)
class RegisteredModel:
    card: ModelCard
    definition: dict[str, Any]
    enablements: list[Enablement] = field(default_factory=list)

    @property
    def definition_ref(self) -> str:
        return f"DeviceDefinition/{self.definition['id']}"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _version_key(version: str) -> tuple[tuple[int, str], ...]:
    return tuple((int(p), "") if p.isdigit() else (-1, p) for p in version.replace("+", ".").split("."))


async def _audit(
    tx: StoreTx, principal: Principal | None, action: str, res_type: str, res_id: str, **details: Any
) -> None:
    await audit_sink().record(
        tx.conn,
        AccessEvent(
            when=datetime.now(UTC),
            principal=principal,
            action="update" if res_type == "Device" else "create",
            res_type=res_type,
            res_id=res_id,
            query=f"ai-model-{action}",
            details=details,
        ),
    )


async def _all(tx: StoreTx, res_type: str) -> list[dict[str, Any]]:
    request = parse_search(res_type, [("type", f"{AI_SYSTEM}|ai-model"), ("_count", "1000")])
    result = await search(tx.conn, request, await tx.store.param_ids())
    return [row.content for row in result.matches]


async def _store_definition(tx: StoreTx, definition: dict[str, Any]) -> bool:
    """Create or replace the DeviceDefinition when its content changed; True when written."""
    try:
        current = content_of(await tx.read("DeviceDefinition", definition["id"]))
    except NotFound:
        current = None
    if current is not None:
        same = {k: v for k, v in current.items() if k != "meta"} == definition
        if same:
            return False
        if card_of(current).sha256 != card_of(definition).sha256:
            raise ModelError(
                f"{card_of(current).label} đã đăng ký với tệp khác; hãy tăng phiên bản / is registered with "
                "another file: give the new one a new version",
                409,
            )
    await tx.update(definition)
    return True


async def register_builtin(store: FhirStore, principal: Principal | None = None) -> list[ModelCard]:
    """Register the models shipped with the platform (idempotent)."""
    cards = builtin_cards()
    async with store.transaction() as tx:
        for card in cards:
            path = BUILTIN_DIR / card.file
            definition = definition_resource(
                card, file_url=f"{_BUILTIN}{card.file}", size=path.stat().st_size
            )
            if await _store_definition(tx, definition):
                await _audit(
                    tx, principal, "register", "DeviceDefinition", definition["id"], model=card.label
                )
    return cards


async def register_model(
    store: FhirStore,
    card_path: Path,
    onnx_path: Path,
    *,
    data_dir: Path,
    principal: Principal | None = None,
) -> RegisteredModel:
    """Register a model version from its card and ONNX file (the file is copied into the data folder)."""
    try:
        card = ModelCard.load(card_path)
    except CardError as e:
        raise ModelError(str(e)) from None
    if not onnx_path.is_file():
        raise ModelError(f"không có tệp / no such file: {onnx_path.name}", 404)
    digest = _sha256(onnx_path)
    if digest != card.sha256:
        raise ModelError(
            f"SHA-256 của tệp không khớp thẻ mô hình / the file's SHA-256 {digest} is not the card's {card.sha256}"
        )
    _check_onnx(onnx_path)
    folder = data_dir / MODELS_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{card.name}-{card.version}.onnx"
    if not target.exists() or _sha256(target) != digest:
        tmp = target.with_suffix(".part")
        shutil.copyfile(onnx_path, tmp)
        tmp.replace(target)
    definition = definition_resource(
        card, file_url=f"{MODELS_FOLDER}/{target.name}", size=target.stat().st_size
    )
    async with store.transaction() as tx:
        if await _store_definition(tx, definition):
            await _audit(tx, principal, "register", "DeviceDefinition", definition["id"], model=card.label)
    return RegisteredModel(card=card, definition=definition)


def _check_onnx(path: Path) -> None:
    """The file is a loadable ONNX model (onnxruntime opens it)."""
    import onnxruntime as ort  # type: ignore[import-untyped]

    try:
        ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises its own exception types for a malformed file
        raise ModelError(f"không phải mô hình ONNX dùng được / not a usable ONNX model: {e}") from None


async def list_models(store: FhirStore) -> list[RegisteredModel]:
    """Every registered model version with its enablements (name order, newest version first)."""
    async with store.transaction() as tx:
        definitions = await _all(tx, "DeviceDefinition")
        devices = await _all(tx, "Device")
    by_definition: dict[str, list[Enablement]] = {}
    for device in devices:
        ref = str((device.get("definition") or {}).get("reference", ""))
        by_definition.setdefault(ref, []).append(_enablement(device))
    out = []
    for definition in definitions:
        card = card_of(definition)
        ens = sorted(
            by_definition.get(f"DeviceDefinition/{definition['id']}", []), key=lambda e: e.facility or ""
        )
        out.append(RegisteredModel(card=card, definition=definition, enablements=ens))
    out.sort(key=lambda m: (m.card.name, tuple(-k[0] for k in _version_key(m.card.version))))
    return out


def _enablement(device: dict[str, Any]) -> Enablement:
    owner = str((device.get("owner") or {}).get("reference", ""))
    reasons = device.get("statusReason") or []
    return Enablement(
        facility=owner.removeprefix("Organization/") or None,
        state=device_state(device),
        reason=str(reasons[0].get("text", "")) if reasons else "",
        device=device,
    )


async def find_model(store: FhirStore, name: str, version: str | None = None) -> RegisteredModel:
    """A registered model (the newest version unless ``version``); the built-in ones are registered first."""
    if name in {c.name for c in builtin_cards()}:
        await register_builtin(store)
    found = [m for m in await list_models(store) if m.card.name == name]
    if version is not None:
        found = [m for m in found if m.card.version == version]
    if not found:
        what = f"{name}@{version}" if version else name
        raise ModelError(f"không có mô hình / no such model: {what}", 404)
    found.sort(key=lambda m: _version_key(m.card.version), reverse=True)
    # enablements belong to the name, whichever version they run
    names = [e for m in await list_models(store) if m.card.name == name for e in m.enablements]
    return RegisteredModel(card=found[0].card, definition=found[0].definition, enablements=names)


async def _set_state(
    store: FhirStore,
    model: RegisteredModel,
    facility: str | None,
    state: str,
    reason: str,
    principal: Principal | None,
) -> dict[str, Any]:
    device = device_resource(model.card, facility, state=state, reason=reason)
    async with store.transaction() as tx:
        if facility is not None:
            try:
                await tx.read("Organization", facility)
            except NotFound:
                raise ModelError(f"không có cơ sở / no such facility: Organization/{facility}", 404) from None
        stored, _ = await tx.update(device)
        await _audit(
            tx,
            principal,
            _ACTIONS[state],
            "Device",
            device["id"],
            model=model.card.label,
            facility=facility or "*",
            state=state,
            reason=reason,
        )
    return content_of(stored)


async def enable(
    store: FhirStore,
    name: str,
    facility: str | None = None,
    *,
    version: str | None = None,
    principal: Principal | None = None,
) -> dict[str, Any]:
    """Enable model ``name`` (its newest version, or ``version``) at ``facility`` (None: every facility);
    returns the Device."""
    model = await find_model(store, name, version)
    return await _set_state(store, model, facility, "enabled", "", principal)


async def disable(
    store: FhirStore,
    name: str,
    facility: str | None = None,
    *,
    reason: str = "",
    principal: Principal | None = None,
) -> dict[str, Any]:
    """Disable model ``name`` at ``facility`` (None: the every-facility enablement); returns the Device."""
    model = await find_model(store, name)
    return await _set_state(store, model, facility, "disabled", reason or "disabled", principal)


async def suspend(
    store: FhirStore, name: str, *, reason: str, principal: Principal | None = None
) -> list[dict[str, Any]]:
    """Switch off every enablement of model ``name`` that is on (state ``suspended``); returns the
    Devices changed."""
    model = await find_model(store, name)
    changed = []
    for en in model.enablements:
        if en.state == "enabled":
            changed.append(await _set_state(store, model, en.facility, "suspended", reason, principal))
    return changed


@dataclass(frozen=True, slots=True)
class EnabledModel:
    card: ModelCard
    definition: dict[str, Any]
    device: dict[str, Any]

    @property
    def device_ref(self) -> str:
        return f"Device/{self.device['id']}"


async def enabled_models(
    store: FhirStore, facility: str | None, modality: str | None, body_part: str | None
) -> list[EnabledModel]:
    """The models that run on a study of ``modality`` and ``body_part`` at ``facility``: enabled there, or
    enabled for every facility and not switched off there."""
    out = []
    for model in await list_models(store):
        if not model.card.matches(modality, body_part):
            continue
        own = [e for e in model.enablements if facility is not None and e.facility == facility]
        every = [e for e in model.enablements if e.facility is None]
        chosen = own[0] if own else (every[0] if every else None)
        if chosen is None or chosen.state != "enabled":
            continue
        if (chosen.device.get("definition") or {}).get("reference") != model.definition_ref:
            continue  # another version of this name is the one enabled
        out.append(EnabledModel(card=model.card, definition=model.definition, device=chosen.device))
    return out


def model_file(definition: dict[str, Any], data_dir: Path | None) -> Path:
    """The ONNX file of a DeviceDefinition, its SHA-256 checked against the card."""
    url = file_url_of(definition)
    card = card_of(definition)
    if url.startswith(_BUILTIN):
        path = BUILTIN_DIR / url.removeprefix(_BUILTIN)
    elif data_dir is not None:
        path = data_dir / url
    else:
        raise ModelError(f"{card.label}: no data folder to find {url} in", 503)
    if not path.is_file():
        raise ModelError(f"{card.label}: model file missing ({path.name})", 503)
    if _sha256(path) != card.sha256:
        raise ModelError(f"{card.label}: model file {path.name} does not match its SHA-256", 503)
    return path
