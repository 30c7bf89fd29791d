"""A ViewDefinition compiled to one SQL query over a table of resources.

Spec: https://sql-on-fhir.org/ig/latest/StructureDefinition-ViewDefinition.html (select, column,
forEach, forEachOrNull, repeat, unionAll, where, constant) and the processing model
https://sql-on-fhir.org/ig/latest/implementer_guidance.html.

The query reads a relation with two columns, ``resource_type`` (text) and ``resource`` (the
resource as JSON / VARIANT). Every selection becomes, for one focus (the resource, or one item of a
``forEach``), either *one row* (a SQL expression per column) or *a list of row structs*:

- ``forEach`` maps the selection body over the items (``list_transform`` / ``transform`` with the
  item's index as ``%rowIndex``) and flattens; ``forEachOrNull`` gives the null row when there are
  none; ``repeat`` collects the items level by level in a fold (``list_reduce`` / ``aggregate``),
  each carrying a sort key that puts them in depth-first order, up to ``max_depth`` levels (deeper
  raises a run-time error rather than cutting rows silently);
- a selection's own columns, its nested selects and its ``unionAll`` (list concatenation) are
  combined as a cross product, columns in the reference evaluator's order;
- the outer query unnests the list (``unnest`` / ``explode``) into rows, after the ``where`` paths
  (each must give one Boolean; empty is false; anything else is a run-time error, as in the reference
  evaluator :func:`senhealth.analytics.viewdef.run_view`).

Column types: a column's declared ``type`` decides its SQL type (strings, codes, ids, dates and times
as text; ``boolean``; integers as BIGINT; ``decimal`` as DOUBLE); without one, the FHIR type of the
path does; complex values are JSON (DuckDB) or VARIANT (Spark); ``collection: true`` gives a list.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from senhealth.analytics.viewdef import ViewDefinitionError, validate_view

from .dialects import Dialect, DuckDB, Kind, dialect
from .errors import Unsupported
from .expressions import ExprCompiler, constant_val
from .values import FHIR_KIND, Scope, Val, model

#: How many levels ``repeat`` follows before it reports an error.
DEFAULT_MAX_DEPTH = 16


@dataclass(frozen=True)
class OutputColumn:
    """One output column: ``kind`` is its SQL representation (see :mod:`.values`)."""

    name: str
    kind: Kind
    collection: bool


@dataclass(frozen=True)
class CompiledView:
    """A view translated for one dialect; :meth:`query` gives the SQL over a source relation."""

    dialect: str
    resource: str
    columns: tuple[OutputColumn, ...]
    select_items: tuple[str, ...]  # the outer SELECT list, one ``expr AS name`` per column
    rows: str | None  # the list of row structs, or None when every resource gives one row
    condition: str  # the WHERE condition (resource type and the view's where paths)
    inner_items: tuple[str, ...] = ()  # per-resource columns computed beside ``rows``
    prelude: str | None = None  # DuckDB: ``json_transform(resource, ...) AS _top``, once per resource

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def query(self, source: str) -> str:
        """The SQL query over ``source``, a relation (table name or ``(subquery)``) with the
        columns ``resource_type`` and ``resource``."""
        select_list = ", ".join(self.select_items)
        if self.prelude is not None:
            source = f"(SELECT *, {self.prelude} FROM {source} AS _in)"
        if self.rows is None:
            return f"SELECT {select_list} FROM {source} AS _src WHERE {self.condition}"
        inner = "".join(f"{item}, " for item in self.inner_items)
        return (
            f"SELECT {select_list} FROM (SELECT {inner}{self.explode} AS _row "
            f"FROM {source} AS _src WHERE {self.condition}) AS _rows"
        )

    @property
    def explode(self) -> str:
        """The expression that turns a resource's list of row structs into rows named ``_row``."""
        assert self.rows is not None
        return f"{'unnest' if self.dialect == 'duckdb' else 'explode'}({self.rows})"

    def decode(self, values: Sequence[Any]) -> dict[str, Any]:
        """A row as the engine returned it (Python values in column order) as run_view gives it."""
        return {c.name: _decode(v, c) for c, v in zip(self.columns, values)}

    def decode_json(self, text: str | bytes) -> dict[str, Any]:
        """A row written as one JSON object (Spark's ``to_json``) as run_view gives it."""
        obj = json.loads(text)
        return {c.name: _decode(obj.get(c.name), c) for c in self.columns}


def _decode(value: Any, col: OutputColumn) -> Any:
    if value is None:
        return [] if col.collection else None
    if col.collection:
        return [_decode_item(v, col.kind) for v in value]
    return _decode_item(value, col.kind)


def _decode_item(value: Any, kind: Kind) -> Any:
    if value is None:
        return None
    if kind == "decimal" and isinstance(value, (float, int)) and not isinstance(value, bool):
        return Decimal(repr(value)) if value == value and abs(value) != float("inf") else value
    if kind == "json" and isinstance(value, str):
        return json.loads(value)  # JSON numbers as float / int, as parsed resources hold them
    return value


@dataclass(frozen=True)
class _RowSet:
    names: tuple[str, ...]
    single: dict[str, str] | None = None  # exactly one row: column -> SQL
    multi: str | None = None  # a list of row structs


class ViewCompiler:
    """Compiles one validated ViewDefinition for one dialect."""

    def __init__(
        self, view: Mapping[str, Any], dialect_name: str, max_depth: int = DEFAULT_MAX_DEPTH
    ) -> None:
        self.view = view
        self.d: Dialect = dialect(dialect_name)
        self.max_depth = max_depth
        self.types: dict[str, OutputColumn] = {}
        constants: dict[str, Val] = {}
        for const in view.get("constant", []):
            key = next(k for k in const if k.startswith("value") and len(k) > 5)
            constants[const["name"]] = constant_val(self.d, key, const[key])
        self.x = ExprCompiler(self.d, constants)

    def unsupported(self, construct: str, where: str) -> Unsupported:
        return Unsupported(construct, where, self.d.name)

    # -- the view --------------------------------------------------------------------------------------

    def compile(self) -> CompiledView:
        d = self.d
        resource = self.view["resource"]
        if not model().is_resource(resource):
            raise self.unsupported(f"the resource type {resource!r} (not in FHIR R4)", "resource")
        focus = Val("json", "resource", fhir=resource)
        scope = Scope(focus, d.number_lit(0, "integer"), focus)
        parts = self.parts({"select": self.view["select"]}, "", scope)
        wheres = [
            self.where_path(w["path"], f"where[{i}].path", scope)
            for i, w in enumerate(self.view.get("where", []))
        ]
        chain = wheres[-1] if wheres else "true"
        for w in reversed(wheres[:-1]):
            chain = f"CASE WHEN {w} THEN {chain} ELSE false END"
        rt = f"resource_type = {d.str_lit(resource)}"
        condition = f"{rt} AND (CASE WHEN {rt} THEN {chain} ELSE false END)" if wheres else rt
        names = tuple(n for p in parts for n in p.names)
        columns = tuple(self.types[n] for n in names)
        multis = [p for p in parts if p.multi is not None]
        singles = {n: sql for p in parts if p.single is not None for n, sql in p.single.items()}
        prelude = d.top_struct() if isinstance(d, DuckDB) else None
        if not multis:
            items = tuple(f"{singles[n]} AS {d.ident(n)}" for n in names)
            return CompiledView(d.name, resource, columns, items, None, condition, prelude=prelude)
        # one list of rows: the per-resource columns are computed beside it, not copied into each struct
        rowset = multis[0] if len(multis) == 1 else self.cross(multis)
        inner = tuple(f"{singles[n]} AS {d.ident(n)}" for n in names if n in singles)
        items = tuple(d.ident(n) if n in singles else f"{d.field('_row', n)} AS {d.ident(n)}" for n in names)
        return CompiledView(d.name, resource, columns, items, rowset.multi, condition, inner, prelude)

    def where_path(self, text: str, where: str, scope: Scope) -> str:
        d = self.d
        v = self.x.compile(text, scope, where)
        k = v.static_kind
        message = f"{where}: a where path must give one boolean, {text!r} did not"
        if k == "boolean":
            return f"coalesce({self.x.v.as_scalar(self.x.v.typed(v, 'boolean'), where)}, false)"
        m = self.x.v.materialize(v)
        if k is None:
            item = self.x.v.as_scalar(m, where)
            return (
                f"CASE WHEN {d.json_is_null(item)} THEN false WHEN {d.json_is(item, 'boolean')} "
                f"THEN {d.json_to(item, 'boolean')} ELSE {d.error(message)} END"
            )
        empty = (
            f"{d.size(m.sql)} = 0"
            if m.many
            else (d.json_is_null(m.sql) if m.kind == "json" else f"{m.sql} IS NULL")
        )
        return f"CASE WHEN {empty} THEN false ELSE {d.error(message)} END"

    # -- selections ------------------------------------------------------------------------------------

    def selection(self, sel: Mapping[str, Any], path: str, scope: Scope) -> _RowSet:
        if "forEach" in sel or "forEachOrNull" in sel:
            key = "forEach" if "forEach" in sel else "forEachOrNull"
            items = self.x.compile(sel[key], scope, f"{_dot(path)}{key}")
            return self.iterate(sel, path, scope, items, key == "forEachOrNull")
        if "repeat" in sel:
            return self.repeat(sel, path, scope)
        return self.body(sel, path, scope)

    def body(self, sel: Mapping[str, Any], path: str, scope: Scope) -> _RowSet:
        return self.cross(self.parts(sel, path, scope))

    def parts(self, sel: Mapping[str, Any], path: str, scope: Scope) -> list[_RowSet]:
        """The row sets whose cross product a selection is: own columns, nested selects, unionAll."""
        parts: list[_RowSet] = []
        own = self.columns(sel.get("column", []), f"{_dot(path)}column", scope)
        parts.append(own)
        for i, sub in enumerate(sel.get("select", [])):
            parts.append(self.selection(sub, f"{_dot(path)}select[{i}]", scope))
        if sel.get("unionAll"):
            parts.append(self.union(sel["unionAll"], f"{_dot(path)}unionAll", scope))
        return parts

    def columns(self, cols: Sequence[Mapping[str, Any]], path: str, scope: Scope) -> _RowSet:
        out: dict[str, str] = {}
        for i, col in enumerate(cols):
            out[col["name"]] = self.column(col, f"{path}[{i}]", scope)
        return _RowSet(tuple(out), single=out)

    def column(self, col: Mapping[str, Any], path: str, scope: Scope) -> str:
        d, vals = self.d, self.x.v
        name, declared, collection = col["name"], col.get("type"), bool(col.get("collection", False))
        v = self.x.compile(col["path"], scope, f"{path}.path")
        known = self.types.get(name)
        # an empty value (the null row of forEachOrNull) has no type of its own: it takes the column's
        kind: Kind = (
            FHIR_KIND.get(declared or "") or (known.kind if known and v.empty else v.static_kind) or "json"
        )
        out = self.register(OutputColumn(name, kind, collection), path)
        conv = vals.typed(v, out.kind)
        if conv.computed and declared == "date" and out.kind in ("string", "date"):
            conv = _date_part(d, vals, conv)
        if collection:
            return f"CAST({vals.as_list(conv)} AS {d.list_type(out.kind)})"
        what = f"column '{name}' (not declared collection: true)"
        return d.cast(vals.as_scalar(conv, what), out.kind)

    def register(self, col: OutputColumn, path: str) -> OutputColumn:
        known = self.types.get(col.name)
        if known is None:
            self.types[col.name] = col
            return col
        if known != col:
            raise self.unsupported(
                f"column {col.name!r} with different types in unionAll branches ({known.kind}, {col.kind})",
                path,
            )
        return known

    def sql_type(self, name: str) -> str:
        c = self.types[name]
        return self.d.list_type(c.kind) if c.collection else self.d.sql_type(c.kind)

    def struct_type(self, names: Sequence[str]) -> str:
        return self.d.struct_type([(n, self.sql_type(n)) for n in names])

    def as_rows(self, rs: _RowSet) -> str:
        """A row set as a list of row structs."""
        if rs.multi is not None:
            return rs.multi
        assert rs.single is not None
        return self.d.array_of([self.struct(rs.names, rs.single)], self.struct_type(rs.names))

    def struct(self, names: Sequence[str], values: Mapping[str, str]) -> str:
        return self.d.struct([(n, values[n]) for n in names])

    def cross(self, parts: Sequence[_RowSet]) -> _RowSet:
        names = tuple(n for p in parts for n in p.names)
        singles: dict[str, str] = {}
        multis: list[_RowSet] = []
        for p in parts:
            if p.single is not None:
                singles.update(p.single)
            else:
                multis.append(p)
        if not multis:
            return _RowSet(names, single=singles)
        d = self.d
        variables = [d.fresh("row") for _ in multis]
        values = dict(singles)
        for var, m in zip(variables, multis):
            for n in m.names:
                values[n] = d.field(var, n)
        if not names or (len(multis) == 1 and not singles):
            return _RowSet(names, multi=multis[0].multi)
        expr = d.transform(self.as_rows(multis[-1]), [variables[-1]], self.struct(names, values))
        for var, m in zip(reversed(variables[:-1]), reversed(multis[:-1])):
            expr = d.flatten(d.transform(self.as_rows(m), [var], expr))
        return _RowSet(names, multi=expr)

    def union(self, branches: Sequence[Mapping[str, Any]], path: str, scope: Scope) -> _RowSet:
        sets = [self.selection(b, f"{path}[{i}]", scope) for i, b in enumerate(branches)]
        return _RowSet(sets[0].names, multi=self.d.concat([self.as_rows(s) for s in sets]))

    def iterate(self, sel: Mapping[str, Any], path: str, scope: Scope, items: Val, or_null: bool) -> _RowSet:
        d, vals = self.d, self.x.v
        if items.choices:
            raise self.unsupported("forEach over a choice element without ofType()", path)
        lst = vals.as_list(items)
        x, j = d.fresh("it"), d.fresh("ix")
        index = j if d.lambda_index_base == 0 else f"({j} - 1)"
        item = Val(items.kind, x, fhir=items.fhir)
        body = self.body(sel, path, Scope(item, index, scope.resource))
        if body.single is not None:
            rows = d.transform(lst, [x, j], self.struct(body.names, body.single))
        else:
            assert body.multi is not None
            rows = d.flatten(d.transform(lst, [x, j], body.multi))
        if or_null:
            empty_focus = replace(vals.empty(items.kind), fhir=items.fhir)
            null_scope = Scope(empty_focus, d.number_lit(0, "integer"), scope.resource)
            own = self.columns(sel.get("column", []), f"{_dot(path)}column", null_scope)
            values = {n: d.null(self.types[n].kind) for n in body.names}
            for n in body.names:
                if self.types[n].collection:
                    values[n] = d.array([], self.types[n].kind)
            assert own.single is not None
            values.update(own.single)
            null_row = d.array_of([self.struct(body.names, values)], self.struct_type(body.names))
            rows = f"CASE WHEN {d.size(lst)} = 0 THEN {null_row} ELSE {rows} END"
        return _RowSet(body.names, multi=rows)

    def repeat(self, sel: Mapping[str, Any], path: str, scope: Scope) -> _RowSet:
        d = self.d
        where = f"{_dot(path)}repeat"
        if scope.focus.empty or scope.focus.lazy:
            raise self.unsupported("repeat on a focus that is not a single element", where)
        item_type = self._repeat_type(sel["repeat"], scope.focus, where)
        if item_type is None:  # no path leads anywhere from this focus: no items
            empty_focus = self.x.v.empty()
            nothing = self.body(sel, path, Scope(empty_focus, d.number_lit(0, "integer"), scope.resource))
            return _RowSet(nothing.names, multi=d.array_of([], self.struct_type(nothing.names)))
        node_t = self.d.struct_type([("k", d.sql_type("string")), ("n", d.sql_type("json"))])
        level_t = d.array_type(node_t)
        levels_t = d.array_type(level_t)
        acc_t = d.struct_type([("f", level_t), ("a", levels_t)])

        def step(frontier: str, parent_type: str | None) -> str:
            p = d.fresh("p")
            parent = Val("json", d.field(p, "n"), fhir=parent_type)
            branches = []
            for i, text in enumerate(sel["repeat"]):
                children = self.x.compile(text, Scope(parent, scope.index, scope.resource), f"{where}[{i}]")
                if children.empty:
                    continue
                c, j = d.fresh("c"), d.fresh("cj")
                key = d.concat_text([d.field(p, "k"), d.str_lit(f"{i:03d}"), d.lpad(j, 7)])
                branches.append(
                    d.transform(self.x.v.as_list(children), [c, j], d.struct([("k", key), ("n", c)]))
                )
            if not branches:
                return d.array_of([], node_t)
            return f"CAST({d.flatten(d.transform(frontier, [p], d.concat(branches)))} AS {level_t})"

        root = d.array_of([d.struct([("k", "''"), ("n", scope.focus.sql)])], node_t)
        init = f"CAST({d.struct([('f', step(root, scope.focus.fhir)), ('a', d.array_of([], level_t))])} AS {acc_t})"
        acc, ignored = d.fresh("acc"), d.fresh("lv")
        deeper = step(d.field(acc, "f"), item_type)
        levels = d.concat([d.field(acc, "a"), d.array_of([d.field(acc, "f")], level_t)])
        body = d.struct([("f", deeper), ("a", levels)])
        folded = d.reduce(d.sequence(self.max_depth), init, acc, ignored, f"CAST({body} AS {acc_t})")
        r, left, right, q = d.fresh("r"), d.fresh("l"), d.fresh("rr"), d.fresh("q")
        too_deep = d.error(f"{where}: more than {self.max_depth} levels")
        ordered = d.sort_by_text(d.flatten(d.field(r, "a")), "k", left, right)
        nodes = d.transform(ordered, [q], d.field(q, "n"))
        checked = f"CASE WHEN {d.size(d.field(r, 'f'))} > 0 THEN {too_deep} ELSE {nodes} END"
        items_sql = d.elem(d.transform(d.array_of([folded], acc_t), [r], checked), "1")
        items = Val("json", items_sql, many=True, fhir=item_type)
        return self.iterate(sel, path, scope, items, False)

    def _repeat_type(self, paths: Sequence[str], focus: Val, where: str) -> str | None:
        """The one FHIR type of every item ``repeat`` reaches (None when it reaches none)."""
        found: set[str | None] = set()
        todo: list[str | None] = [focus.fhir]
        seen: set[str | None] = set()
        while todo:
            t = todo.pop()
            if t in seen:
                continue
            seen.add(t)
            probe = Scope(Val("json", "NULL", fhir=t), "0", focus)
            for p in paths:
                v = self.x.compile(p, probe, where)
                if not v.empty:
                    found.add(v.fhir)
                    todo.append(v.fhir)
        if len(found) > 1 or None in found:
            raise self.unsupported("repeat paths that reach elements of different or unknown types", where)
        return next(iter(found)) if found else None


def _date_part(d: Dialect, vals: Any, v: Val) -> Val:
    if v.many:
        x = d.fresh("x")
        return replace(v, sql=d.transform(v.sql, [x], d.substr(x, "1", "10")))
    m = vals.materialize(v)
    return replace(m, sql=d.substr(m.sql, "1", "10"))


def _dot(path: str) -> str:
    return f"{path}." if path else ""


def compile_view(
    view: Mapping[str, Any], dialect_name: str, *, max_depth: int = DEFAULT_MAX_DEPTH
) -> CompiledView:
    """Validate ``view`` (as :func:`run_view` does) and translate it for ``"duckdb"`` or ``"spark"``.

    Raises :class:`ViewDefinitionError` for a malformed view and :class:`Unsupported` for a valid one
    this compiler cannot express (naming the construct and where it is in the view).
    """
    problems = validate_view(view)
    if problems:
        where, _, message = problems[0].partition(": ")
        more = f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
        raise ViewDefinitionError(message + more, where)
    return ViewCompiler(view, dialect_name, max_depth).compile()
