"""The ``senhealth`` command line (Typer: https://typer.tiangolo.com/).

Commands:

- ``senhealth fhirpath EXPRESSION FILE``: evaluate a FHIRPath expression on a resource, print JSON;
- ``senhealth validate FILE...``: validate resources, Bundles or NDJSON files; exit 1 when any is invalid;
- ``senhealth index FILE``: print the search-index values the platform would store for each resource;
- ``senhealth db init|migrate|status|start|stop``: the database (embedded or a server);
- ``senhealth serve``: the FHIR server; ``senhealth load FILE...``: fill the store from files;
- ``senhealth demo``: a short tour on a bundled synthetic example (``senhealth demo --help`` for more).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, NamedTuple

import orjson
import typer
from rich.console import Console

from senhealth.cli_audit import audit_app
from senhealth.cli_bulk import bulk_app
from senhealth.cli_checkup import checkup_app
from senhealth.cli_claims import claims_app
from senhealth.cli_db import db_app
from senhealth.cli_imaging import imaging_app
from senhealth.cli_jobs import jobs_app, worker_command
from senhealth.cli_models import models_app
from senhealth.cli_mpi import mpi_app
from senhealth.cli_pki import pki_app
from senhealth.cli_reports import reports_app
from senhealth.cli_retention import retention_app
from senhealth.cli_server import load_command, serve_command
from senhealth.cli_surveillance import surveillance_app
from senhealth.cli_terminology import terminology_app
from senhealth.cli_token import make_token_app
from senhealth.cli_users import users_app
from senhealth.cli_views import views_app
from senhealth.core.errors import operation_outcome
from senhealth.core.json import dumps
from senhealth.core.progress import progress_bar
from senhealth.demo.cli import demo_app
from senhealth.security.oauth.users import UserInfo

_ENTRY = re.compile(r"^Bundle\.entry\[(\d+)\]\.resource\b")

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


class Item(NamedTuple):
    """One resource read from a file, or the reason it could not be read."""

    label: str
    resource: Any
    error: str | None = None


def iter_resources(path: Path) -> Iterator[Item]:
    """Yield the resources of a JSON file (a resource or a Bundle, as one item) or of an NDJSON file."""
    if path.suffix in (".ndjson", ".jsonl"):
        try:
            f = path.open("rb")
        except FileNotFoundError:
            err.print(f"[red]Không tìm thấy tệp / file not found:[/] {path}")
            raise typer.Exit(2) from None
        with f:
            for n, line in enumerate(f, 1):
                if line.strip():
                    try:
                        yield Item(f"{path}:{n}", orjson.loads(line))
                    except orjson.JSONDecodeError as e:
                        yield Item(f"{path}:{n}", None, f"invalid JSON: {e}")
    else:
        yield Item(str(path), _read_json(path))


def split_bundle_outcome(item: Item, outcome: dict[str, Any]) -> list[tuple[str, Any, dict[str, Any]]]:
    """Attribute a Bundle's issues to its entries: (label, resource, OperationOutcome) per resource."""
    resource = item.resource
    if not (isinstance(resource, dict) and resource.get("resourceType") == "Bundle"):
        return [(item.label, resource, outcome)]
    raw_entries = resource.get("entry")
    entries: list[Any] = raw_entries if isinstance(raw_entries, list) else []
    per_entry: dict[int, list[dict[str, Any]]] = {}
    own: list[dict[str, Any]] = []
    for issue in outcome.get("issue", []):
        where = (issue.get("expression") or [""])[0]
        m = _ENTRY.match(where)
        if m and int(m.group(1)) < len(entries):
            per_entry.setdefault(int(m.group(1)), []).append(issue)
        else:
            own.append(issue)
    out: list[tuple[str, Any, dict[str, Any]]] = []
    if own:
        out.append((item.label, resource, {"resourceType": "OperationOutcome", "issue": own}))
    for i, issues in sorted(per_entry.items()):
        entry = entries[i]
        inner = entry.get("resource") if isinstance(entry, dict) else None
        out.append((f"{item.label}#entry[{i}]", inner, {"resourceType": "OperationOutcome", "issue": issues}))
    return out


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
    """Validate FHIR R4 resources; print an OperationOutcome per resource with errors; exit 1 if any.

    A Bundle counts as one resource for the exit code and the totals; its issues are printed per entry
    (``FILE#entry[3]``), so each invalid resource inside it gets its own OperationOutcome.
    """
    from senhealth.fhir.validation import register_profile
    from senhealth.fhir.validation import validate as run_validation

    for sd_path in profile_file or []:
        register_profile(_read_json(sd_path))
    items = [it for f in files for it in iter_resources(f)]
    invalid = 0
    with progress_bar(err, disable=len(items) < 200 or not err.is_terminal) as progress:
        task = progress.add_task("Kiểm tra / validating", total=len(items))
        for item in items:
            progress.advance(task)
            if item.error is not None:
                outcome = operation_outcome("fatal", "structure", item.error)
            else:
                outcome = run_validation(item.resource, profile)
            issues = outcome.get("issue", [])
            bad = any(i.get("severity") in ("error", "fatal") for i in issues)
            invalid += bad
            if not bad and not (warnings and issues):
                continue
            for label, resource, part in split_bundle_outcome(item, outcome):
                part_bad = any(i.get("severity") in ("error", "fatal") for i in part["issue"])
                if not part_bad and not warnings:
                    continue
                if json_lines:
                    typer.echo(dumps({"source": label, "outcome": part}, pretty=False))
                else:
                    colour = "red" if part_bad else "yellow"
                    err.print(f"[{colour}]{label}[/] {_describe(resource)}")
                    typer.echo(dumps(part))
    total = len(items)
    inside = sum(
        len(it.resource.get("entry") or [])
        for it in items
        if isinstance(it.resource, dict) and it.resource.get("resourceType") == "Bundle"
    )
    in_bundles = f" ({inside} trong Bundle / inside Bundles)" if inside else ""
    err.print(
        f"{total} tài nguyên / resources{in_bundles}: {total - invalid} hợp lệ / valid, "
        f"{invalid} không hợp lệ / invalid"
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
app.command("serve")(serve_command)
app.command("load")(load_command)
app.command("worker")(worker_command)
app.add_typer(jobs_app, name="jobs")
app.add_typer(users_app, name="users")
app.add_typer(audit_app, name="audit")
app.add_typer(mpi_app, name="mpi")
app.add_typer(views_app, name="views")
app.add_typer(terminology_app, name="terminology")
app.add_typer(bulk_app, name="bulk")
app.add_typer(pki_app, name="pki")
app.add_typer(retention_app, name="retention")
app.add_typer(claims_app, name="claims")
app.add_typer(checkup_app, name="checkup")
app.add_typer(surveillance_app, name="surveillance")
app.add_typer(reports_app, name="reports")
app.add_typer(imaging_app, name="imaging")
app.add_typer(models_app, name="models")


async def _account(username: str) -> UserInfo | None:
    """The account ``username`` for ``senhealth token`` (on the configured or embedded database)."""
    from senhealth.core import db
    from senhealth.core.embedded_postgres import database_conninfo
    from senhealth.core.migrate import migrate
    from senhealth.security.accounts import get_user
    from senhealth.security.directory import user_info

    with database_conninfo() as url:
        migrate(url)
        await db.open_pool(url, max_size=1)
        try:
            user = await get_user(username)
        finally:
            await db.close_pool()
    return user_info(user) if user is not None and not user.disabled else None


app.registered_commands.extend(make_token_app(_account).registered_commands)


def main() -> None:  # pragma: no cover - console entry
    app(prog_name="senhealth")


if __name__ == "__main__":  # pragma: no cover
    main()
