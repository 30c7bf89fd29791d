"""The ``senhealth`` command line (Typer: https://typer.tiangolo.com/).

Commands:

- ``senhealth fhirpath EXPRESSION FILE``: evaluate a FHIRPath expression on a resource, print JSON;
- ``senhealth validate FILE...``: validate resources, Bundles or NDJSON files; exit 1 when any is invalid;
- ``senhealth index FILE``: print the search-index values the platform would store for each resource;
- ``senhealth db init|migrate|status|start|stop``: the database (embedded or a server);
- ``senhealth demo``: a short tour on a bundled synthetic example (``senhealth demo --help`` for more).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from senhealth.cli_db import db_app
from senhealth.core.json import dumps
from senhealth.demo.cli import demo_app

app = typer.Typer(
    name="senhealth",
    help="Sen Health: the FHIR R4 platform of a provincial smart health network.",
    no_args_is_help=True,
    add_completion=False,
)
err = Console(stderr=True)


def _read_json(path: Path) -> Any:
    try:
        return orjson.loads(path.read_bytes())
    except FileNotFoundError:
        err.print(f"[red]Không tìm thấy tệp / file not found:[/] {path}")
        raise typer.Exit(2) from None
    except orjson.JSONDecodeError as e:
        err.print(f"[red]JSON không hợp lệ / invalid JSON[/] in {path}: {e}")
        raise typer.Exit(2) from None


def iter_resources(path: Path) -> Iterator[tuple[str, Any]]:
    """Yield (label, resource) from a JSON resource, a Bundle (as one resource) or an NDJSON file."""
    if path.suffix in (".ndjson", ".jsonl"):
        with path.open("rb") as f:
            for n, line in enumerate(f, 1):
                if line.strip():
                    try:
                        yield f"{path}:{n}", orjson.loads(line)
                    except orjson.JSONDecodeError as e:
                        yield f"{path}:{n}", {"__invalid_json__": str(e)}
    else:
        yield str(path), _read_json(path)


def _describe(resource: Any) -> str:
    if isinstance(resource, dict):
        rt = resource.get("resourceType", "?")
        rid = resource.get("id")
        return f"{rt}/{rid}" if rid else str(rt)
    return type(resource).__name__


@app.command()
def fhirpath(
    expression: Annotated[str, typer.Argument(help='FHIRPath expression, e.g. "Patient.name.given".')],
    file: Annotated[Path, typer.Argument(help="A FHIR resource as JSON.", exists=False)],
    var: Annotated[
        list[str] | None,
        typer.Option("--var", "-v", help="A variable as NAME=JSON (or NAME=text), usable as %NAME."),
    ] = None,
    compact: Annotated[bool, typer.Option(help="Print on one line.")] = False,
) -> None:
    """Evaluate a FHIRPath expression on a resource and print the result as a JSON array."""
    from senhealth.fhir.fhirpath import FHIRPathError, evaluate

    resource = _read_json(file)
    variables: dict[str, Any] = {}
    for item in var or []:
        name, sep, raw = item.partition("=")
        if not sep:
            err.print(f"[red]--var cần dạng NAME=VALUE / --var needs NAME=VALUE:[/] {item}")
            raise typer.Exit(2)
        try:
            variables[name] = orjson.loads(raw)
        except orjson.JSONDecodeError:
            variables[name] = raw
    try:
        result = evaluate(resource, expression, variables or None)
    except FHIRPathError as e:
        err.print(f"[red]Lỗi FHIRPath / FHIRPath error:[/] {e}")
        raise typer.Exit(2) from None
    typer.echo(dumps(result, pretty=not compact))


@app.command()
def validate(
    files: Annotated[list[Path], typer.Argument(help="JSON resources, Bundles or NDJSON files.")],
    profile: Annotated[
        str | None, typer.Option(help="Canonical URL of a profile to validate against as well.")
    ] = None,
    profile_file: Annotated[
        list[Path] | None,
        typer.Option("--profile-file", help="A StructureDefinition (JSON) to load before validating."),
    ] = None,
    json_lines: Annotated[
        bool, typer.Option("--json", help="Print one JSON object per resource with errors.")
    ] = False,
    warnings: Annotated[bool, typer.Option(help="Also print resources that only have warnings.")] = False,
) -> None:
    """Validate FHIR R4 resources; print an OperationOutcome per resource with errors; exit 1 if any."""
    from senhealth.fhir.validation import register_profile
    from senhealth.fhir.validation import validate as run_validation

    for sd_path in profile_file or []:
        register_profile(_read_json(sd_path))
    items = [it for f in files for it in iter_resources(f)]
    invalid = 0
    reported = 0
    with Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
        disable=len(items) < 200 or not err.is_terminal,
    ) as progress:
        task = progress.add_task("Kiểm tra / validating", total=len(items))
        for label, resource in items:
            progress.advance(task)
            if isinstance(resource, dict) and "__invalid_json__" in resource:
                outcome: dict[str, Any] = {
                    "resourceType": "OperationOutcome",
                    "issue": [
                        {
                            "severity": "fatal",
                            "code": "structure",
                            "diagnostics": resource["__invalid_json__"],
                        }
                    ],
                }
            else:
                outcome = run_validation(resource, profile)
            issues = outcome.get("issue", [])
            bad = any(i.get("severity") in ("error", "fatal") for i in issues)
            invalid += bad
            if not bad and not (warnings and issues):
                continue
            reported += 1
            if json_lines:
                typer.echo(dumps({"source": label, "outcome": outcome}, pretty=False))
            else:
                colour = "red" if bad else "yellow"
                err.print(f"[{colour}]{label}[/] {_describe(resource)}")
                typer.echo(dumps(outcome))
    total = len(items)
    err.print(
        f"{total} tài nguyên / resources, {total - invalid} hợp lệ / valid, {invalid} không hợp lệ / invalid"
    )
    if invalid:
        raise typer.Exit(1)


@app.command()
def index(
    file: Annotated[Path, typer.Argument(help="A FHIR resource as JSON.")],
    compact: Annotated[bool, typer.Option(help="Print on one line.")] = False,
) -> None:
    """Print the search-parameter index values extracted from a resource."""
    from senhealth.fhir.search.extract import extract_to_json

    typer.echo(dumps(extract_to_json(_read_json(file)), pretty=not compact))


app.add_typer(demo_app, name="demo")
app.add_typer(db_app, name="db")


def main() -> None:  # pragma: no cover - console entry
    app(prog_name="senhealth")


if __name__ == "__main__":  # pragma: no cover
    main()
