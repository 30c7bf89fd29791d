"""The error a SQL dialect raises for a ViewDefinition it cannot express.

Spec: https://sql-on-fhir.org/ig/latest/StructureDefinition-ViewDefinition.html
"""

from __future__ import annotations


class Unsupported(Exception):
    """A valid ViewDefinition that this SQL compiler cannot translate (``construct`` names what).

    Not a :class:`~senhealth.analytics.viewdef.ViewDefinitionError`: the view is fine, the engine is not.
    Runners may fall back to the in-process reference engine (``run_view``) when they meet it.
    """

    def __init__(self, construct: str, where: str = "", dialect: str = "") -> None:
        self.construct = construct
        self.where = where
        self.dialect = dialect
        text = f"{dialect}: " if dialect else ""
        text += f"cannot express {construct}"
        if where:
            text += f" (in {where})"
        super().__init__(text)
