"""``senhealth demo``: the synthetic showcase of the platform.

Synthetic data only: every person, facility and record these commands produce or show is invented.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import typer
from rich.console import Console

EXAMPLES = Path(__file__).resolve().parent / "examples"

demo_app = typer.Typer(
    help="Demonstrations on synthetic data. With no sub-command: a short tour of the FHIR core.",
    invoke_without_command=True,
    no_args_is_help=False,
)


def _example(name: str) -> Any:
    return orjson.loads((EXAMPLES / name).read_bytes())


def _dumps(value: Any) -> str:
    from senhealth.cli import dumps

    return dumps(value, pretty=False)


@demo_app.callback()
def tour(ctx: typer.Context) -> None:
    """A short tour on a synthetic patient: FHIRPath, validation and search indexing."""
    if ctx.invoked_subcommand is not None:
        return
    from senhealth.fhir.fhirpath import evaluate
    from senhealth.fhir.search.extract import extract_to_json
    from senhealth.fhir.validation import validate

    out = Console()
    patient = _example("patient-vn.json")
    broken = _example("patient-vn-broken.json")
    out.rule("Sen Health · FHIRPath")
    for expr in (
        "Patient.name.where(use = 'official').text",
        "Patient.identifier.where(system = 'https://senhealth.vn/fhir/sid/cccd').value",
        "Patient.birthDate <= today() - 18 years",
        "Patient.address.first().district",
    ):
        out.print(f"[bold]{expr}[/] → {_dumps(evaluate(patient, expr))}")
    out.rule("Kiểm tra dữ liệu / validation")
    out.print("patient-vn.json:", _dumps(validate(patient)))
    out.print("patient-vn-broken.json:")
    out.print(_dumps(validate(broken)))
    out.rule("Chỉ mục tìm kiếm / search index")
    idx = extract_to_json(patient)
    out.print(_dumps({k: idx[k] for k in list(idx)[:6]}))
