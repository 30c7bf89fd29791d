"""The patch interaction's two formats: JSON Patch (RFC 6902) and FHIRPath Patch.

Spec: https://hl7.org/fhir/R4/http.html#patch, https://hl7.org/fhir/R4/fhirpatch.html and
https://www.rfc-editor.org/rfc/rfc6902.

- ``application/json-patch+json``: an array of RFC 6902 operations, applied with the ``jsonpatch``
  library (https://python-json-patch.readthedocs.io/).
- ``application/fhir+json`` (or ``application/json``): a ``Parameters`` resource with one
  ``operation`` parameter per change (``type`` add | insert | delete | replace | move, ``path``,
  ``name``, ``value[x]`` or a ``value`` with parts, ``index``, ``source``, ``destination``), whose
  paths are FHIRPath expressions evaluated with :mod:`senhealth.fhir.fhirpath`. Written here because no
  Python library implements FHIRPath Patch; the engine gives the elements a path selects, and a map of
  where each JSON object sits in the resource turns them into places to change.

Both work on a deep copy, so a failed patch leaves the input untouched. The caller validates and
stores the result like any update: a patch that produces an invalid resource writes nothing.

Errors (:class:`PatchError`, with an HTTP ``status``): a malformed patch document is 400; a patch that
cannot be applied to this resource (a JSON Patch ``test`` that fails, a path that selects nothing or
several elements where one is needed, an index out of range) is 422.
"""

from __future__ import annotations

import copy
import re
from typing import Any, Final

import jsonpatch

from senhealth.core.errors import SenHealthError
from senhealth.fhir import fhirpath
from senhealth.fhir.model import get_model

__all__ = [
    "FHIRPATH_PATCH",
    "JSON_PATCH",
    "PatchError",
    "apply_fhirpath_patch",
    "apply_json_patch",
    "apply_patch",
    "patch_format",
]

JSON_PATCH: Final = "application/json-patch+json"
FHIRPATH_PATCH: Final = "application/fhir+json"
_FHIRPATH_TYPES: Final = frozenset({"application/fhir+json", "application/json", "application/json+fhir"})
_OPERATION_TYPES: Final = frozenset({"add", "insert", "delete", "replace", "move"})
_LAST_STEP = re.compile(r"^(.*)\.([A-Za-z_][A-Za-z0-9_]*)$")

Location = tuple[Any, str, int]  # (parent dict, key, index in the list at key or -1)


class PatchError(SenHealthError):
    """A patch that is malformed (400) or cannot be applied to the resource (422)."""

    code = "processing"

    def __init__(self, message: str, status: int = 422, expression: str | None = None) -> None:
        super().__init__(message, expression)
        self.status = status
        self.code = "invalid" if status == 400 else "processing"


def patch_format(content_type: str | None) -> str | None:
    """``JSON_PATCH`` or ``FHIRPATH_PATCH`` for a request's Content-Type, ``None`` when neither."""
    base = (content_type or "").split(";", 1)[0].strip().lower()
    if base == JSON_PATCH:
        return JSON_PATCH
    if base in _FHIRPATH_TYPES:
        return FHIRPATH_PATCH
    return None


def apply_patch(resource: dict[str, Any], body: Any, fmt: str) -> dict[str, Any]:
    """Apply a parsed patch document in format ``fmt`` (:func:`patch_format`) to a copy of ``resource``."""
    if fmt == JSON_PATCH:
        return apply_json_patch(resource, body)
    return apply_fhirpath_patch(resource, body)


# -- JSON Patch -------------------------------------------------------------------------------------


def apply_json_patch(resource: dict[str, Any], operations: Any) -> dict[str, Any]:
    """Apply an RFC 6902 patch (a JSON array of operations) to a copy of ``resource``."""
    if not isinstance(operations, list):
        raise PatchError("A JSON Patch document is a JSON array of operations", 400)
    for i, op in enumerate(operations):
        if (
            not isinstance(op, dict)
            or not isinstance(op.get("op"), str)
            or not isinstance(op.get("path"), str)
        ):
            raise PatchError(f"JSON Patch operation {i} needs an 'op' and a 'path'", 400)
    try:
        patch = jsonpatch.JsonPatch(operations)
        result = patch.apply(copy.deepcopy(resource))
    except jsonpatch.InvalidJsonPatch as e:
        raise PatchError(f"Invalid JSON Patch: {e}", 400) from None
    except jsonpatch.JsonPatchTestFailed as e:
        raise PatchError(f"JSON Patch test failed: {e}") from None
    except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as e:
        raise PatchError(f"JSON Patch cannot be applied: {e}") from None
    except (TypeError, ValueError, KeyError, IndexError) as e:
        raise PatchError(f"JSON Patch cannot be applied: {e}") from None
    if not isinstance(result, dict):
        raise PatchError("The patched document is not a resource (a JSON object)")
    return result


# -- FHIRPath Patch ---------------------------------------------------------------------------------


def _locations(resource: dict[str, Any]) -> dict[int, Location]:
    """``id(obj) -> (parent, key, index)`` for every JSON object inside ``resource``."""
    out: dict[int, Location] = {}
    stack: list[dict[str, Any]] = [resource]
    while stack:
        obj = stack.pop()
        for key, value in obj.items():
            if isinstance(value, dict):
                out[id(value)] = (obj, key, -1)
                stack.append(value)
            elif isinstance(value, list):
                for i, item in enumerate(value):
                    if isinstance(item, dict):
                        out[id(item)] = (obj, key, i)
                        stack.append(item)
    return out


def _select(resource: dict[str, Any], path: str, where: str) -> list[Any]:
    try:
        return list(fhirpath.compile(path).evaluate_items(resource))
    except fhirpath.FHIRPathError as e:
        raise PatchError(f"{where}: path {path!r} is not a valid FHIRPath expression: {e}", 400) from None
    except (RecursionError, TypeError, ValueError, KeyError, IndexError, AttributeError) as e:
        raise PatchError(f"{where}: path {path!r} cannot be evaluated: {e}") from None


def _place(item: Any, locations: dict[int, Location], where: str) -> Location:
    """Where a selected element sits in the resource."""
    if isinstance(item, fhirpath.Node):
        if item.parent is not None and item.key is not None:
            return (item.parent, item.key, item.index)
        loc = locations.get(id(item.value))
        if loc is not None:
            return loc
    raise PatchError(f"{where}: the path selects something that is not an element of the resource")


def _one(items: list[Any], path: str, where: str) -> Any:
    if len(items) != 1:
        raise PatchError(f"{where}: path {path!r} selects {len(items)} elements, expected one")
    return items[0]


def _value_key(part: dict[str, Any]) -> str | None:
    for key in part:
        if key.startswith("value") and len(key) > 5 and key[5].isupper():
            return key
    return None


def _build_value(part: dict[str, Any], type_path: str | None, where: str) -> tuple[Any, str | None]:
    """The value of a ``value`` part: ``(value, type suffix)`` (``("2020-01-01", "Date")``)."""
    key = _value_key(part)
    if key is not None:
        return copy.deepcopy(part[key]), key[5:]
    parts = part.get("part")
    if not isinstance(parts, list) or not parts:
        raise PatchError(f"{where}: the operation has no value", 400)
    model = get_model()
    obj: dict[str, Any] = {}
    for sub in parts:
        if not isinstance(sub, dict) or not isinstance(sub.get("name"), str):
            raise PatchError(f"{where}: each part of a value needs a name", 400)
        name: str = sub["name"]
        info = model.child(type_path, name) if type_path else None
        value, suffix = _build_value(sub, info.type_path if info else None, where)
        json_name = name + suffix if info is not None and info.choice and suffix else name
        if info is not None and info.is_array:
            obj.setdefault(json_name, []).append(value)
        elif json_name in obj:
            previous = obj[json_name]
            obj[json_name] = [*previous, value] if isinstance(previous, list) else [previous, value]
        else:
            obj[json_name] = value
    return obj, None


def _int_part(params: dict[str, dict[str, Any]], name: str, where: str) -> int:
    part = params.get(name)
    value = part.get("valueInteger") if part is not None else None
    if not isinstance(value, int) or isinstance(value, bool):
        raise PatchError(f"{where}: '{name}' must be given as valueInteger", 400)
    return value


def _list_at(parent: Any, key: str, where: str) -> list[Any]:
    value = parent.get(key)
    if not isinstance(value, list):
        raise PatchError(f"{where}: {key!r} is not a repeating element")
    return value


def _op_add(resource: dict[str, Any], params: dict[str, dict[str, Any]], path: str, where: str) -> None:
    name_part = params.get("name")
    name = name_part.get("valueString") if name_part else None
    if not isinstance(name, str) or not name:
        raise PatchError(f"{where}: 'add' needs a name (valueString)", 400)
    target = _one(_select(resource, path, where), path, where)
    if not isinstance(target, fhirpath.Node) or not isinstance(target.value, dict):
        raise PatchError(f"{where}: path {path!r} does not select an element that can hold {name!r}")
    info = get_model().child(target.path, name) if target.path else None
    value, suffix = _build_value(_require(params, "value", where), info.type_path if info else None, where)
    key = name + suffix if info is not None and info.choice and suffix else name
    container: dict[str, Any] = target.value
    if (info is not None and info.is_array) or isinstance(container.get(key), list):
        container.setdefault(key, []).append(value)
    else:
        container[key] = value


def _require(params: dict[str, dict[str, Any]], name: str, where: str) -> dict[str, Any]:
    part = params.get(name)
    if part is None:
        raise PatchError(f"{where}: the operation needs '{name}'", 400)
    return part


def _op_insert(resource: dict[str, Any], params: dict[str, dict[str, Any]], path: str, where: str) -> None:
    index = _int_part(params, "index", where)
    items = _select(resource, path, where)
    if items:
        parent, key, _ = _place(items[0], _locations(resource), where)
        target = _list_at(parent, key, where)
    else:  # an empty list: find its container from the path's last step
        m = _LAST_STEP.match(path.strip())
        if m is None:
            raise PatchError(f"{where}: path {path!r} selects nothing to insert into")
        owner = _one(_select(resource, m.group(1), where), m.group(1), where)
        if not isinstance(owner, fhirpath.Node) or not isinstance(owner.value, dict):
            raise PatchError(f"{where}: path {path!r} selects nothing to insert into")
        parent, key = owner.value, m.group(2)
        target = parent.setdefault(key, [])
    if not 0 <= index <= len(target):
        raise PatchError(f"{where}: index {index} is outside 0..{len(target)}")
    value, _ = _build_value(_require(params, "value", where), _type_path(items), where)
    target.insert(index, value)


def _type_path(items: list[Any]) -> str | None:
    first = items[0] if items else None
    return first.path if isinstance(first, fhirpath.Node) else None


def _op_delete(resource: dict[str, Any], path: str, where: str) -> None:
    items = _select(resource, path, where)
    if not items:
        return  # deleting what is not there changes nothing
    parent, key, index = _place(_one(items, path, where), _locations(resource), where)
    shadow = "_" + key
    if index < 0:
        parent.pop(key, None)
        parent.pop(shadow, None)
        return
    values = _list_at(parent, key, where)
    del values[index]
    extras = parent.get(shadow)
    if isinstance(extras, list) and index < len(extras):
        del extras[index]
        if not extras or all(e is None for e in extras):
            parent.pop(shadow)
    if not values:
        parent.pop(key)


def _op_replace(resource: dict[str, Any], params: dict[str, dict[str, Any]], path: str, where: str) -> None:
    item = _one(_select(resource, path, where), path, where)
    parent, key, index = _place(item, _locations(resource), where)
    type_path = item.path if isinstance(item, fhirpath.Node) else None
    value, suffix = _build_value(_require(params, "value", where), type_path, where)
    old_type = item.type if isinstance(item, fhirpath.Node) else None
    if index >= 0:
        _list_at(parent, key, where)[index] = value
        return
    old_suffix = old_type[0].upper() + old_type[1:] if old_type else ""
    if suffix and old_suffix and suffix != old_suffix and key.endswith(old_suffix) and key != old_suffix:
        # a choice element given a value of another type: valueQuantity -> valueString
        parent.pop(key)
        parent.pop("_" + key, None)
        key = key[: -len(old_suffix)] + suffix
    parent[key] = value


def _op_move(resource: dict[str, Any], params: dict[str, dict[str, Any]], path: str, where: str) -> None:
    source = _int_part(params, "source", where)
    destination = _int_part(params, "destination", where)
    items = _select(resource, path, where)
    if not items:
        raise PatchError(f"{where}: path {path!r} selects nothing to move")
    parent, key, _ = _place(items[0], _locations(resource), where)
    values = _list_at(parent, key, where)
    if not (0 <= source < len(values) and 0 <= destination < len(values)):
        raise PatchError(
            f"{where}: source {source} or destination {destination} is outside 0..{len(values) - 1}"
        )
    values.insert(destination, values.pop(source))
    extras = parent.get("_" + key)
    if isinstance(extras, list) and len(extras) == len(values):
        extras.insert(destination, extras.pop(source))


def _operation_params(param: Any, where: str) -> dict[str, dict[str, Any]]:
    if not isinstance(param, dict) or param.get("name") != "operation":
        raise PatchError(f"{where}: a FHIRPath Patch parameter is named 'operation'", 400)
    parts = param.get("part")
    if not isinstance(parts, list):
        raise PatchError(f"{where}: the operation has no parts", 400)
    out: dict[str, dict[str, Any]] = {}
    for part in parts:
        if not isinstance(part, dict) or not isinstance(part.get("name"), str):
            raise PatchError(f"{where}: each part of an operation needs a name", 400)
        out[part["name"]] = part
    return out


def apply_fhirpath_patch(resource: dict[str, Any], parameters: Any) -> dict[str, Any]:
    """Apply a FHIRPath Patch (a ``Parameters`` resource) to a copy of ``resource``."""
    if not isinstance(parameters, dict) or parameters.get("resourceType") != "Parameters":
        raise PatchError("A FHIRPath Patch is a Parameters resource", 400)
    operations = parameters.get("parameter")
    if not isinstance(operations, list) or not operations:
        raise PatchError("The FHIRPath Patch has no operation", 400)
    result = copy.deepcopy(resource)
    for i, param in enumerate(operations):
        where = f"Parameters.parameter[{i}]"
        params = _operation_params(param, where)
        type_part = params.get("type")
        op = type_part.get("valueCode") if type_part else None
        if op not in _OPERATION_TYPES:
            raise PatchError(f"{where}: type must be one of add, insert, delete, replace, move", 400)
        path_part = params.get("path")
        path = path_part.get("valueString") if path_part else None
        if not isinstance(path, str) or not path.strip():
            raise PatchError(f"{where}: the operation needs a path (valueString)", 400)
        if op == "add":
            _op_add(result, params, path, where)
        elif op == "insert":
            _op_insert(result, params, path, where)
        elif op == "delete":
            _op_delete(result, path, where)
        elif op == "replace":
            _op_replace(result, params, path, where)
        else:
            _op_move(result, params, path, where)
    return result
