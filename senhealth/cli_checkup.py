"""``senhealth checkup``: the check-up forms and, later, campaigns and registries from the command line.

``senhealth checkup install-forms`` puts the packaged check-up Questionnaires into the store (by canonical URL and
version: created, updated or unchanged; safe to run again). ``senhealth demo`` runs it too.
Forms: docs/checkup-forms.md.
"""

from __future__ import annotations

import typer
from rich.console import Console

from senhealth.cli_database import run_command

__all__ = ["checkup_app"]

out = Console()

checkup_app = typer.Typer(
    help="Khám sức khỏe / check-ups: forms (Questionnaires) for the commune stations.",
    no_args_is_help=True,
    add_completion=False,
)


@checkup_app.callback()
def checkup() -> None:
    """Khám sức khỏe / check-ups (a group: its commands below)."""


@checkup_app.command("install-forms")
def install_forms_command() -> None:
    """Put the packaged check-up Questionnaires into the store (idempotent)."""
    from senhealth.checkup.forms import install_forms
    from senhealth.core.db import get_pool
    from senhealth.fhir.store import FhirStore

    async def work() -> list[tuple[str, str]]:
        return [(done.canonical, done.action) for done in await install_forms(FhirStore(get_pool()))]

    for canonical, action in run_command(work):
        out.print(f"{action:<9} {canonical}")
