"""The error a ViewDefinition raises.

Spec: https://sql-on-fhir.org/ig/latest/StructureDefinition-ViewDefinition.html
"""

from __future__ import annotations


class ViewDefinitionError(ValueError):
    """A ViewDefinition that is malformed, or that failed on a resource.

    ``path`` names the place in the view (``select[0].column[2].path``); ``str()`` starts with it.
    """

    def __init__(self, message: str, path: str = "") -> None:
        self.path = path
        self.message = message
        super().__init__(f"{path}: {message}" if path else message)
