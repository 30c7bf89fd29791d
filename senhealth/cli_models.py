"""``senhealth models``: the imaging AI model registry from the command line.

- ``senhealth models list [--json]``: every registered model version (the built-in ``demo-chest-nodule``
  is registered on first use), its regulatory status and where it is enabled;
- ``senhealth models show NAME [--version V]``: the model card (intended use, modality, body part,
  validation metrics, licence, file digest) and its enablements;
- ``senhealth models enable NAME [--facility ID] [--version V]``: enable at a facility
  (``Organization/<ID>``) or, without ``--facility``, at every facility;
- ``senhealth models disable NAME [--facility ID] [--reason TEXT]``;
- ``senhealth models register CARD.json MODEL.onnx``: register a model version (its SHA-256 must be the card's);
- ``senhealth models agreement NAME [--month YYYY-MM]``: the radiologists' agreement with the model.

They use the database of ``SENHEALTH_DATABASE_URL`` or, when it is unset, the embedded PostgreSQL, and apply
pending migrations first (docs/imaging-ai.md). Wiring in ``senhealth/cli.py``::

    from senhealth.cli_models import models_app
    app.add_typer(models_app, name="models")
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from senhealth.cli_database import run_command

__all__ = ["models_app"]

out = Console()
err = Console(stderr=True)

models_app = typer.Typer(
    help="Mô hình AI đọc ảnh / imaging AI models: registry, per-facility enablement, agreement.",
    no_args_is_help=True,
    add_completion=False,
)

_CLI = "cli"


def _principal() -> Any:
    from senhealth.fhir.access import Principal

    return Principal(kind="system", subject=_CLI, roles=frozenset({"system"}))


@models_app.command("list")
def list_command(
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of a table.")] = False,
) -> None:
    """List the registered models and where they are enabled."""
    from senhealth.fhir.store import FhirStore
    from senhealth.imaging.models import RegisteredModel, list_models, register_builtin

    async def work() -> list[RegisteredModel]:
        store = FhirStore()
        await register_builtin(store, _principal())
        return await list_models(store)

    models = run_command(work)
    if as_json:
        out.print_json(
            json.dumps(
                [
                    {
                        "name": m.card.name,
                        "version": m.card.version,
                        "definition": m.definition_ref,
                        "regulatoryStatus": m.card.regulatory_status,
                        "modalities": list(m.card.modalities),
                        "bodyParts": list(m.card.body_parts),
                        "enablements": [
                            {"facility": e.facility, "state": e.state, "reason": e.reason}
                            for e in m.enablements
                        ],
                    }
                    for m in models
                ],
                ensure_ascii=False,
            )
        )
        return
    table = Table(title="Mô hình AI / AI models")
    for col in ("name", "version", "modality", "body part", "status", "enabled at"):
        table.add_column(col)
    for m in models:
        where = ", ".join(f"{e.facility or '*'}: {e.state}" for e in m.enablements) or "-"
        table.add_row(
            m.card.name,
            m.card.version,
            "/".join(m.card.modalities),
            "/".join(m.card.body_parts),
            m.card.regulatory_status,
            where,
        )
    out.print(table)


@models_app.command("show")
def show_command(
    name: Annotated[str, typer.Argument(help="The model's name, e.g. demo-chest-nodule.")],
    version: Annotated[str | None, typer.Option(help="A version (default: the newest).")] = None,
) -> None:
    """Show a model's card and its enablements."""
    from senhealth.fhir.store import FhirStore
    from senhealth.imaging.models import RegisteredModel, find_model

    async def work() -> RegisteredModel:
        return await find_model(FhirStore(), name, version)

    model = run_command(work)
    card = model.card
    out.print(f"[bold]{card.label}[/] — {card.title_vi} / {card.title}")
    out.print(f"Tình trạng pháp lý / regulatory status: [bold red]{card.status_text}[/]")
    out.print(f"Giấy phép / licence: {card.licence}; nhà sản xuất / manufacturer: {card.manufacturer}")
    out.print(
        f"Phương thức / modality: {', '.join(card.modalities)}; vùng / body part: {', '.join(card.body_parts)}"
    )
    out.print(f"Mục đích / intended use: {card.intended_use_vi}\n  {card.intended_use}")
    out.print(f"Tệp / file: {card.file} (sha256 {card.sha256}); {model.definition_ref}")
    out.print("Thẩm định / validation:")
    for key, value in card.validation.items():
        out.print(f"  {key}: {value}")
    if not model.enablements:
        out.print("Chưa bật ở đâu / not enabled anywhere")
    for e in model.enablements:
        where = f"Organization/{e.facility}" if e.facility else "* (mọi cơ sở / every facility)"
        out.print(f"  {where}: {e.state}{f' ({e.reason})' if e.reason else ''} — {e.device_ref}")


@models_app.command("enable")
def enable_command(
    name: Annotated[str, typer.Argument(help="The model's name, e.g. demo-chest-nodule.")],
    facility: Annotated[
        str | None, typer.Option("--facility", help="Organization id (default: every facility).")
    ] = None,
    version: Annotated[str | None, typer.Option(help="A version (default: the newest).")] = None,
) -> None:
    """Enable a model at a facility (or everywhere): new studies that match it are inferred."""
    from senhealth.fhir.store import FhirStore
    from senhealth.imaging.models import enable

    async def work() -> dict[str, Any]:
        return await enable(FhirStore(), name, facility, version=version, principal=_principal())

    device = _refusing(work)
    where = f"Organization/{facility}" if facility else "mọi cơ sở / every facility"
    out.print(f"Đã bật / enabled: {name} {device['version'][0]['value']} at {where} (Device/{device['id']})")


@models_app.command("disable")
def disable_command(
    name: Annotated[str, typer.Argument(help="The model's name.")],
    facility: Annotated[
        str | None, typer.Option("--facility", help="Organization id (default: the every-facility switch).")
    ] = None,
    reason: Annotated[str, typer.Option(help="Why (kept in the Device and the audit log).")] = "",
) -> None:
    """Disable a model at a facility (or its every-facility enablement)."""
    from senhealth.fhir.store import FhirStore
    from senhealth.imaging.models import disable

    async def work() -> dict[str, Any]:
        return await disable(FhirStore(), name, facility, reason=reason, principal=_principal())

    device = _refusing(work)
    out.print(f"Đã tắt / disabled: {name} (Device/{device['id']})")


@models_app.command("register")
def register_command(
    card: Annotated[Path, typer.Argument(help="The model card (JSON).")],
    model: Annotated[Path, typer.Argument(help="The ONNX file.")],
) -> None:
    """Register a model version from its card and ONNX file."""
    from senhealth.core.config import get_settings
    from senhealth.fhir.store import FhirStore
    from senhealth.imaging.models import RegisteredModel, register_model

    async def work() -> RegisteredModel:
        return await register_model(
            FhirStore(), card, model, data_dir=get_settings().data_dir, principal=_principal()
        )

    registered = _refusing(work)
    out.print(f"Đã đăng ký / registered: {registered.card.label} ({registered.definition_ref})")


@models_app.command("agreement")
def agreement_command(
    name: Annotated[str, typer.Argument(help="The model's name.")],
    month: Annotated[str | None, typer.Option(help="YYYY-MM (default: this month).")] = None,
) -> None:
    """The radiologists' agreement with a model in a month (the automatic suspension's measure)."""
    from senhealth.fhir.store import FhirStore
    from senhealth.imaging.review import Agreement, agreement

    async def work() -> Agreement:
        return await agreement(FhirStore(), name, month)

    a = _refusing(work)
    rate = "-" if a.rate is None else f"{100 * a.rate:.1f}%"
    out.print(
        f"{name} {a.month}: {a.cases} ca / cases, {a.agreed} đồng ý / agreed ({rate}); "
        f"accepted {a.accepted}, edited {a.edited}, rejected {a.rejected}"
    )


def _refusing(work: Any) -> Any:
    """:func:`run_command`, a registry refusal printed in red (exit status 1)."""
    from senhealth.imaging.models import ModelError

    try:
        return run_command(work)
    except ModelError as e:
        err.print(f"[red]{e.message}[/]")
        raise typer.Exit(1) from None
