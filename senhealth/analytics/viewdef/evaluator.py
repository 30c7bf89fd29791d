"""An in-memory evaluator of SQL-on-FHIR v2 ViewDefinitions.

Spec: https://sql-on-fhir.org/ig/latest/StructureDefinition-ViewDefinition.html

A view is checked once (:func:`validate_view`), its FHIRPath expressions compiled once, then every
resource of the view's type that passes all ``where`` clauses is turned into rows:

- a *selection* (the view itself, each ``select`` item, each ``unionAll`` branch) picks its foci:
  the current node, or the items of ``forEach`` / ``forEachOrNull``, or every node reached by
  applying the ``repeat`` paths again and again;
- for each focus the selection's own columns make one partial row, each nested ``select`` a list of
  partial rows, ``unionAll`` the concatenation of its branches' rows; the rows of the focus are the
  cross product of those lists, columns in that order (own columns, nested selects, unionAll);
- ``forEachOrNull`` with no items gives one row with every column of the selection null.

FHIRPath runs on the project's engine (:mod:`senhealth.fhir.fhirpath`, which provides
``getResourceKey()`` and ``getReferenceKey([type])``), compiled by :mod:`.view_fhirpath` (where
``join()`` of an empty collection is ``''``, as the suite expects of a view's column); ``constant``
entries become ``%name`` variables, typed by their ``value[x]`` suffix; ``%rowIndex`` is the 0-based index of the focus in the
nearest ``forEach``/``forEachOrNull``/``repeat`` collection (0 at the resource level).

Column values come back as JSON values (``str``, ``bool``, ``int``, ``decimal.Decimal`` for decimals,
``dict`` for complex types); FHIRPath dates and times become their ISO text; a column with
``collection: true`` is a list; an empty result is ``None``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from senhealth.fhir import fhirpath
from senhealth.fhir.fhirpath import FPDate, FPDateTime, FPTime, Quantity
from senhealth.fhir.fhirpath.values import Node

from .errors import ViewDefinitionError
from .view_fhirpath import compile_view_expression

SPEC_URL = "https://sql-on-fhir.org/ig/latest/StructureDefinition-ViewDefinition.html"

#: FHIR primitive types a column may declare.
COLUMN_TYPES = frozenset(
    {
        "base64Binary", "boolean", "canonical", "code", "date", "dateTime", "decimal", "id",
        "instant", "integer", "integer64", "markdown", "oid", "positiveInt", "string", "time",
        "unsignedInt", "uri", "url", "uuid",
    }
)  # fmt: skip

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_VARIABLE = re.compile(r"%([A-Za-z_][A-Za-z0-9_]*)|%`([^`]*)`")
_STRING_LITERAL = re.compile(r"'(?:[^'\\]|\\.)*'")
#: Environment variables every expression may use besides the view's constants.
_BUILTIN_VARIABLES = frozenset({"resource", "rootResource", "context", "rowIndex", "ucum", "sct", "loinc"})

Row = dict[str, Any]


@dataclass(frozen=True)
class _Column:
    name: str
    path: str
    expr: fhirpath.CompiledExpression
    collection: bool
    type: str | None


@dataclass(frozen=True)
class _Selection:
    path: str  # place in the view, for error messages
    columns: tuple[_Column, ...] = ()
    selects: tuple[_Selection, ...] = ()
    union: tuple[_Selection, ...] = ()
    for_each: fhirpath.CompiledExpression | None = None
    or_null: bool = False
    repeat: tuple[fhirpath.CompiledExpression, ...] = ()
    names: tuple[str, ...] = field(default=())  # every output column, in order


@dataclass(frozen=True)
class _Plan:
    resource: str
    where: tuple[tuple[str, fhirpath.CompiledExpression], ...]
    root: _Selection
    constants: Mapping[str, Any]


# --------------------------------------------------------------------------- validation


def _dot(path: str) -> str:
    return f"{path}." if path else ""


def _variables_in(expression: str) -> set[str]:
    text = _STRING_LITERAL.sub("''", expression)
    return {m.group(1) or m.group(2) for m in _VARIABLE.finditer(text)}


class _Checker:
    def __init__(self, constants: set[str]) -> None:
        self.errors: list[str] = []
        self.constants = constants

    def error(self, path: str, message: str) -> None:
        self.errors.append(f"{path}: {message}")

    def expression(self, value: Any, path: str) -> fhirpath.CompiledExpression | None:
        if not isinstance(value, str) or not value.strip():
            self.error(path, f"a FHIRPath expression must be a non-empty string, not {value!r}")
            return None
        try:
            compiled = compile_view_expression(value)
        except fhirpath.FHIRPathError as e:
            self.error(path, f"invalid FHIRPath {value!r}: {e}")
            return None
        unknown = sorted(_variables_in(value) - self.constants - _BUILTIN_VARIABLES)
        if unknown:
            self.error(path, f"undefined constant(s) {', '.join('%' + u for u in unknown)} in {value!r}")
            return None
        return compiled

    def selection(self, sel: Any, path: str) -> _Selection | None:
        if not isinstance(sel, dict):
            self.error(path or "view", "a select must be an object")
            return None
        n_errors = len(self.errors)
        iterators = [k for k in ("forEach", "forEachOrNull", "repeat") if k in sel]
        if len(iterators) > 1:
            self.error(
                path or "view", f"only one of forEach, forEachOrNull, repeat may be given, not {iterators}"
            )
        for_each = None
        repeat: list[fhirpath.CompiledExpression] = []
        if "forEach" in sel or "forEachOrNull" in sel:
            key = "forEach" if "forEach" in sel else "forEachOrNull"
            for_each = self.expression(sel[key], f"{_dot(path)}{key}")
        if "repeat" in sel:
            paths = sel["repeat"]
            if not isinstance(paths, list) or not paths:
                self.error(f"{_dot(path)}repeat", "repeat must be a non-empty list of FHIRPath expressions")
            else:
                for i, p in enumerate(paths):
                    c = self.expression(p, f"{_dot(path)}repeat[{i}]")
                    if c is not None:
                        repeat.append(c)
        columns = self.columns(sel.get("column"), f"{_dot(path)}column") if "column" in sel else []
        selects = self.selections(sel.get("select"), f"{_dot(path)}select") if "select" in sel else []
        union = self.selections(sel.get("unionAll"), f"{_dot(path)}unionAll") if "unionAll" in sel else []
        if not (columns or selects or union or "column" in sel or "select" in sel or "unionAll" in sel):
            self.error(path or "view", "a select needs column, select or unionAll")
        if len(self.errors) > n_errors:
            return None
        if union:
            first = union[0].names
            for i, u in enumerate(union[1:], 1):
                if u.names != first:
                    self.error(
                        f"{_dot(path)}unionAll[{i}]",
                        f"unionAll branches must have the same columns in the same order: {list(u.names)} "
                        f"differs from {list(first)}",
                    )
                    return None
        names = [c.name for c in columns]
        for s in selects:
            names.extend(s.names)
        if union:
            names.extend(union[0].names)
        return _Selection(
            path=path,
            columns=tuple(columns),
            selects=tuple(selects),
            union=tuple(union),
            for_each=for_each,
            or_null="forEachOrNull" in sel,
            repeat=tuple(repeat),
            names=tuple(names),
        )

    def selections(self, value: Any, path: str) -> list[_Selection]:
        if not isinstance(value, list):
            self.error(path, "must be a list of selects")
            return []
        out = []
        for i, s in enumerate(value):
            compiled = self.selection(s, f"{path}[{i}]")
            if compiled is not None:
                out.append(compiled)
        return out

    def columns(self, value: Any, path: str) -> list[_Column]:
        if not isinstance(value, list):
            self.error(path, "must be a list of columns")
            return []
        out = []
        for i, col in enumerate(value):
            cpath = f"{path}[{i}]"
            if not isinstance(col, dict):
                self.error(cpath, "a column must be an object")
                continue
            name = col.get("name")
            if not isinstance(name, str) or not _NAME.match(name):
                self.error(f"{cpath}.name", f"a column name must match {_NAME.pattern}, not {name!r}")
                continue
            ctype = col.get("type")
            if ctype is not None and ctype not in COLUMN_TYPES:
                self.error(f"{cpath}.type", f"unknown column type {ctype!r}")
                continue
            collection = col.get("collection", False)
            if not isinstance(collection, bool):
                self.error(f"{cpath}.collection", f"must be true or false, not {collection!r}")
                continue
            expr = self.expression(col.get("path"), f"{cpath}.path")
            if expr is not None:
                out.append(_Column(name, f"{cpath}.path", expr, collection, ctype))
        return out


def _constant_value(const: Any, path: str, errors: list[str]) -> tuple[str, Any] | None:
    if not isinstance(const, dict):
        errors.append(f"{path}: a constant must be an object")
        return None
    name = const.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        errors.append(f"{_dot(path)}name: a constant name must match {_NAME.pattern}, not {name!r}")
        return None
    values = [k for k in const if k.startswith("value") and len(k) > 5]
    if len(values) != 1:
        errors.append(f"{path}: constant {name!r} needs exactly one value[x], has {values or 'none'}")
        return None
    key = values[0]
    primitive = key[5].lower() + key[6:]
    value = const[key]
    if primitive in COLUMN_TYPES:
        return name, Node(value, primitive, primitive)
    if isinstance(value, dict):
        return name, Node(value, key[5:], key[5:])
    errors.append(f"{_dot(path)}{key}: constant {name!r} has an unknown value type")
    return None


def _plan(view: Any) -> tuple[_Plan | None, list[str]]:
    if not isinstance(view, dict):
        return None, ["view: a ViewDefinition must be a JSON object"]
    errors: list[str] = []
    resource = view.get("resource")
    if not isinstance(resource, str) or not resource:
        errors.append("resource: the view must name the resource type it runs on")
    constants: dict[str, Any] = {}
    raw_constants = view.get("constant", [])
    if not isinstance(raw_constants, list):
        errors.append("constant: must be a list")
        raw_constants = []
    for i, const in enumerate(raw_constants):
        c = _constant_value(const, f"constant[{i}]", errors)
        if c is not None:
            if c[0] in constants:
                errors.append(f"constant[{i}].name: constant {c[0]!r} is defined twice")
            constants[c[0]] = c[1]
    checker = _Checker(set(constants))
    select = view.get("select")
    if not isinstance(select, list) or not select:
        checker.error("select", "the view needs a non-empty select list")
        root = None
    else:
        root = checker.selection({"select": select}, "")
    where: list[tuple[str, fhirpath.CompiledExpression]] = []
    raw_where = view.get("where", [])
    if not isinstance(raw_where, list):
        checker.error("where", "must be a list")
        raw_where = []
    for i, w in enumerate(raw_where):
        p = w.get("path") if isinstance(w, dict) else None
        e = checker.expression(p, f"where[{i}].path")
        if e is not None:
            where.append((f"where[{i}].path", e))
    errors.extend(checker.errors)
    if root is not None and not errors:
        seen: set[str] = set()
        for n in root.names:
            if n in seen:
                errors.append(f"select: column name {n!r} is used twice")
            seen.add(n)
    if errors or root is None or not isinstance(resource, str):
        return None, errors
    return _Plan(resource, tuple(where), root, constants), []


def validate_view(view: Any) -> list[str]:
    """Check a ViewDefinition's structure and expressions; return the problems (``"path: message"``).

    An empty list means :func:`run_view` will accept the view. Spec: :data:`SPEC_URL`.
    """
    return _plan(view)[1]


def column_names(view: Any) -> list[str]:
    """The view's output columns, in order; raises :class:`ViewDefinitionError` if the view is invalid."""
    return list(_compile(view).root.names)


def _compile(view: Any) -> _Plan:
    plan, errors = _plan(view)
    if plan is None:
        first = errors[0] if errors else "view: invalid"
        where, _, message = first.partition(": ")
        more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
        raise ViewDefinitionError(message + more, where)
    return plan


# --------------------------------------------------------------------------- evaluation


def _output(value: Any, type_: str | None) -> Any:
    if isinstance(value, FPDateTime) and type_ == "date":
        # a column declared ``date`` keeps the date part (``birthDate.lowBoundary()`` is a date-time
        # in the engine, so that it compares with date-times)
        return value.isoformat().partition("T")[0]
    if isinstance(value, (FPDate, FPDateTime, FPTime)):
        return value.isoformat()
    if isinstance(value, Quantity):
        return str(value)
    return value


class _Run:
    def __init__(self, plan: _Plan, resource: dict[str, Any]) -> None:
        self.plan = plan
        self.resource = resource
        self.variables: dict[str, Any] = dict(plan.constants)

    def items(self, expr: fhirpath.CompiledExpression, node: Any, index: int, path: str) -> list[Any]:
        self.variables["rowIndex"] = index
        try:
            return expr.evaluate_items(node, self.variables, resource=self.resource)
        except fhirpath.FHIRPathError as e:
            raise ViewDefinitionError(f"FHIRPath {expr.expression!r} failed: {e}", path) from e

    def values(self, col: _Column, node: Any, index: int) -> Any:
        self.variables["rowIndex"] = index
        try:
            out = col.expr(node, self.variables, resource=self.resource)
        except fhirpath.FHIRPathError as e:
            raise ViewDefinitionError(f"FHIRPath {col.expr.expression!r} failed: {e}", col.path) from e
        if col.collection:
            return [_output(v, col.type) for v in out]
        if len(out) > 1:
            raise ViewDefinitionError(
                f"{col.expr.expression!r} gave {len(out)} values for column {col.name!r}, "
                "which is not declared collection: true",
                col.path,
            )
        return _output(out[0], col.type) if out else None

    def foci(self, sel: _Selection, node: Any, index: int) -> list[tuple[Any, int]]:
        if sel.for_each is not None:
            key = "forEachOrNull" if sel.or_null else "forEach"
            items = self.items(sel.for_each, node, index, f"{_dot(sel.path)}{key}")
            return [(item, i) for i, item in enumerate(items)]
        if sel.repeat:
            found: list[Any] = []
            self._repeat(sel, [node], index, found, 0)
            return [(item, i) for i, item in enumerate(found)]
        return [(node, index)]

    def _repeat(self, sel: _Selection, nodes: list[Any], index: int, found: list[Any], depth: int) -> None:
        if depth > 64:
            raise ViewDefinitionError("repeat goes deeper than 64 levels", f"{_dot(sel.path)}repeat")
        for node in nodes:
            for i, expr in enumerate(sel.repeat):
                children = self.items(expr, node, index, f"{_dot(sel.path)}repeat[{i}]")
                for child in children:
                    found.append(child)
                    self._repeat(sel, [child], index, found, depth + 1)

    def rows(self, sel: _Selection, node: Any, index: int) -> list[Row]:
        foci = self.foci(sel, node, index)
        if not foci:
            if not sel.or_null:
                return []
            # the null row: every column null, except what the selection's own columns give on an
            # empty focus at %rowIndex 0 (the suite expects %rowIndex to be 0 there)
            row: Row = dict.fromkeys(sel.names)
            row.update({c.name: self.values(c, [], 0) for c in sel.columns})
            return [row]
        out: list[Row] = []
        for focus, i in foci:
            partial: list[Row] = [{c.name: self.values(c, focus, i) for c in sel.columns}]
            for sub in sel.selects:
                sub_rows = self.rows(sub, focus, i)
                partial = [{**a, **b} for a in partial for b in sub_rows]
                if not partial:
                    break
            if sel.union and partial:
                union_rows = [r for u in sel.union for r in self.rows(u, focus, i)]
                partial = [{**a, **b} for a in partial for b in union_rows]
            out.extend({n: r[n] for n in sel.names} for r in partial)
        return out

    def included(self) -> bool:
        for path, expr in self.plan.where:
            result = self.items(expr, self.resource, 0, path)
            if not result:
                return False
            values = [v.value if isinstance(v, Node) else v for v in result]
            if len(values) != 1 or not isinstance(values[0], bool):
                raise ViewDefinitionError(
                    f"a where path must give one boolean, {expr.expression!r} gave {values!r}", path
                )
            if not values[0]:
                return False
        return True


@dataclass(frozen=True)
class ViewColumn:
    """One output column of a view: its name, declared FHIR ``type`` (None: not given) and whether it
    is a ``collection``. For ``unionAll`` branches the first branch that declares a type gives it."""

    name: str
    type: str | None
    collection: bool
    where: str = ""  # its place in the view: ``select[0].column[2].path``


class CompiledView:
    """A validated view, its expressions compiled: run it over resources, or one resource at a time.

    :func:`compile_view` makes one; :func:`run_view` is ``compile_view(view).run(resources)``.
    """

    def __init__(self, plan: _Plan) -> None:
        self._plan = plan
        found: dict[str, ViewColumn] = {}
        _collect_columns(plan.root, found)
        self.columns: tuple[ViewColumn, ...] = tuple(found[n] for n in plan.root.names)

    @property
    def resource(self) -> str:
        """The resource type the view runs on."""
        return self._plan.resource

    @property
    def names(self) -> list[str]:
        """The output column names, in order."""
        return [c.name for c in self.columns]

    def rows(self, resource: Mapping[str, Any]) -> list[Row]:
        """The rows of one resource (none when it is of another type or a ``where`` excludes it)."""
        return list(_rows(self._plan, (resource,)))

    def run(self, resources: Iterable[Mapping[str, Any]]) -> Iterator[Row]:
        """The rows of every resource, in order."""
        return _rows(self._plan, resources)


def _collect_columns(sel: _Selection, found: dict[str, ViewColumn]) -> None:
    for c in sel.columns:
        known = found.get(c.name)
        if known is None or (known.type is None and c.type is not None):
            found[c.name] = ViewColumn(c.name, c.type, c.collection, c.path)
    for sub in (*sel.selects, *sel.union):
        _collect_columns(sub, found)


def compile_view(view: Any) -> CompiledView:
    """Validate and compile a ViewDefinition; raises :class:`ViewDefinitionError` naming the first
    problem's place in the view (``validate_view`` lists them all). Spec: :data:`SPEC_URL`."""
    return CompiledView(_compile(view))


def run_view(view: Mapping[str, Any], resources: Iterable[Mapping[str, Any]]) -> Iterator[Row]:
    """Run a ViewDefinition over FHIR resources (parsed JSON) and yield its rows.

    Resources of another type than ``view["resource"]`` are skipped. The view is validated before
    the first resource is read; a malformed view, or a resource on which it fails (a column without
    ``collection: true`` giving several values, a ``where`` that is not boolean, a FHIRPath error),
    raises :class:`ViewDefinitionError` naming the place in the view. Spec: :data:`SPEC_URL`.
    """
    plan = _compile(view)
    return _rows(plan, resources)


def _rows(plan: _Plan, resources: Iterable[Mapping[str, Any]]) -> Iterator[Row]:
    for resource in resources:
        if resource.get("resourceType") != plan.resource:
            continue
        run = _Run(plan, dict(resource) if not isinstance(resource, dict) else resource)
        if run.included():
            yield from run.rows(plan.root, resource, 0)
