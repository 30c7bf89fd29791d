"""OpenAPI descriptions of the FHIR routes: path and query parameters, bodies, error answers.

Spec: https://spec.openapis.org/oas/v3.1.0 and https://fastapi.tiangolo.com/advanced/path-operation-advanced-configuration/
(``openapi_extra``). FHIR itself: https://hl7.org/fhir/R4/http.html.

Handlers read their bodies and query strings themselves (FHIR JSON keeps decimals exact; search takes
any parameter), so FastAPI cannot infer them: these fragments describe them instead, well enough for
a schema-driven client or fuzzer (generic JSON objects for resources, an array for JSON Patch, the
common query parameters, and OperationOutcome answers for every documented error status).
"""

from __future__ import annotations

from typing import Annotated, Any, Final

from fastapi import Path

from senhealth.fhir.search.request import resource_types

__all__ = [
    "BUNDLE_BODY",
    "ERRORS",
    "FORM_BODY",
    "OPERATION_BODY",
    "PATCH_BODY",
    "RESOURCE_BODY",
    "CompartmentParam",
    "IdParam",
    "TypeParam",
    "VidParam",
    "errors",
    "extra",
    "headers",
    "query",
]

_TYPES: Final = sorted(resource_types())
_ID_PATTERN: Final = r"^[A-Za-z0-9\-.]{1,64}$"

# Path parameters. The enum and pattern only document (``json_schema_extra``): the handlers check
# them themselves, so that a wrong value gets the FHIR answer (404 unknown type, 400 bad id).
TypeParam = Annotated[
    str, Path(alias="type", description="A FHIR R4 resource type", json_schema_extra={"enum": _TYPES})
]
IdParam = Annotated[
    str,
    Path(alias="id", description="The logical id of a resource", json_schema_extra={"pattern": _ID_PATTERN}),
]
VidParam = Annotated[
    str, Path(alias="vid", description="A version id", json_schema_extra={"pattern": r"^[0-9]{1,9}$"})
]
CompartmentParam = Annotated[
    str,
    Path(
        alias="compartment",
        description="A resource type in the Patient compartment, or *",
        json_schema_extra={"enum": ["*", *_TYPES]},
    ),
]

_RESOURCE_SCHEMA: Final[dict[str, Any]] = {
    "type": "object",
    "description": "A FHIR R4 resource in JSON (https://hl7.org/fhir/R4/json.html)",
    "properties": {"resourceType": {"type": "string"}},
    "required": ["resourceType"],
    "additionalProperties": True,
}
_JSON_TYPES: Final = ("application/fhir+json", "application/json")


def _body(
    schema: dict[str, Any], required: bool = True, types: tuple[str, ...] = _JSON_TYPES
) -> dict[str, Any]:
    return {"requestBody": {"required": required, "content": {t: {"schema": schema} for t in types}}}


RESOURCE_BODY: Final = _body(_RESOURCE_SCHEMA)
BUNDLE_BODY: Final = _body(
    {
        **_RESOURCE_SCHEMA,
        "description": "A Bundle of type batch or transaction (https://hl7.org/fhir/R4/http.html#transaction)",
    }
)
OPERATION_BODY: Final = _body(
    {**_RESOURCE_SCHEMA, "description": "A Parameters resource, or the resource the operation takes"},
    required=False,
)
PATCH_BODY: Final = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json-patch+json": {
                "schema": {
                    "type": "array",
                    "description": "RFC 6902 JSON Patch",
                    "items": {"type": "object", "additionalProperties": True},
                }
            },
            "application/fhir+json": {
                "schema": {**_RESOURCE_SCHEMA, "description": "FHIRPath Patch: a Parameters resource"}
            },
        },
    }
}
FORM_BODY: Final = {
    "requestBody": {
        "required": False,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {"type": "object", "additionalProperties": {"type": "string"}}
            }
        },
    }
}

_PARAMS: Final[dict[str, dict[str, Any]]] = {
    "_format": {"schema": {"type": "string"}, "description": "json (only JSON is supported)"},
    "_pretty": {"schema": {"type": "string", "enum": ["true", "false"]}, "description": "indent the answer"},
    "_summary": {
        "schema": {"type": "string", "enum": ["true", "false", "text", "data", "count"]},
        "description": "return a summary (https://hl7.org/fhir/R4/search.html#summary)",
    },
    "_elements": {"schema": {"type": "string"}, "description": "comma-separated top-level elements"},
    "_count": {"schema": {"type": "integer", "minimum": 0}, "description": "page size"},
    "_since": {"schema": {"type": "string"}, "description": "FHIR instant: versions since"},
    "_at": {"schema": {"type": "string"}, "description": "FHIR dateTime: versions current at"},
    "_sort": {"schema": {"type": "string"}, "description": "sort keys, '-' for descending"},
    "_include": {"schema": {"type": "string"}, "description": "Source:param[:Target] or *"},
    "_revinclude": {"schema": {"type": "string"}, "description": "Source:param[:Target] or *"},
    "_total": {"schema": {"type": "string", "enum": ["none", "estimate", "accurate"]}},
    "_cursor": {"schema": {"type": "string"}, "description": "paging token from a next link"},
    "_id": {"schema": {"type": "string"}, "description": "resource id(s)"},
    "_lastUpdated": {"schema": {"type": "string"}, "description": "date search on meta.lastUpdated"},
    "_type": {"schema": {"type": "string"}, "description": "comma-separated resource types"},
}


def extra(*fragments: dict[str, Any]) -> dict[str, Any]:
    """Merge ``openapi_extra`` fragments (their ``parameters`` lists are joined)."""
    out: dict[str, Any] = {}
    for fragment in fragments:
        for key, value in fragment.items():
            if key == "parameters":
                out.setdefault("parameters", []).extend(value)
            else:
                out[key] = value
    return out


_HEADERS: Final[dict[str, str]] = {
    "If-Match": 'version-aware write: W/"<versionId>"; 412 when the resource is at another version',
    "If-None-Match": 'conditional read: W/"<versionId>"; 304 when it is still the current version',
    "If-Modified-Since": "conditional read: an HTTP date; 304 when not modified since",
    "If-None-Exist": "conditional create: search criteria such as identifier=sys|val",
    "Prefer": "return=minimal|representation|OperationOutcome, handling=strict|lenient",
}


def headers(*names: str) -> dict[str, Any]:
    """``openapi_extra`` listing the optional request headers ``names``."""
    return {
        "parameters": [
            {
                "name": n,
                "in": "header",
                "required": False,
                "schema": {"type": "string"},
                "description": _HEADERS[n],
            }
            for n in names
        ]
    }


def query(*names: str) -> dict[str, Any]:
    """``openapi_extra`` listing the query parameters ``names`` (all optional)."""
    return {"parameters": [{"name": n, "in": "query", "required": False, **_PARAMS[n]} for n in names]}


_OUTCOME: Final = {
    "application/fhir+json": {
        "schema": {
            "type": "object",
            "description": "OperationOutcome",
            "properties": {"resourceType": {"type": "string"}, "issue": {"type": "array"}},
        }
    }
}
_REASONS: Final = {
    304: "Not modified (conditional read)",
    400: "Bad request: malformed input (OperationOutcome)",
    404: "Unknown resource type, resource or operation (OperationOutcome)",
    405: "Method not allowed (OperationOutcome)",
    406: "Not acceptable: only JSON is answered (OperationOutcome)",
    409: "Conflict (OperationOutcome)",
    410: "Gone: the resource is deleted (OperationOutcome)",
    412: "Precondition failed: If-Match, or conditional criteria matching several (OperationOutcome)",
    413: "Body too large (OperationOutcome)",
    415: "Unsupported media type: only JSON is accepted (OperationOutcome)",
    422: "Unprocessable: the patch or operation cannot be applied (OperationOutcome)",
}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """FastAPI ``responses`` for the given statuses (always with 400, 404, 406)."""
    wanted = sorted({400, 404, 406, *statuses})
    out: dict[int | str, dict[str, Any]] = {}
    for status in wanted:
        out[status] = {"description": _REASONS[status]}
        if status != 304:
            out[status]["content"] = _OUTCOME
    return out


ERRORS: Final = errors()
