"""The two SQL dialects a ViewDefinition compiles to: DuckDB and Spark SQL.

Spec: https://sql-on-fhir.org/ig/latest/StructureDefinition-ViewDefinition.html (what is compiled);
DuckDB JSON functions https://duckdb.org/docs/stable/data/json/json_functions and list lambdas
https://duckdb.org/docs/stable/sql/functions/lambda; Spark's ``VARIANT`` type
https://spark.apache.org/docs/latest/sql-ref-datatypes.html and its higher-order array functions
https://spark.apache.org/docs/latest/sql-ref-functions-builtin.html#lambda-functions.

The compiler (:mod:`.expressions`, :mod:`.views`) writes every construct through a :class:`Dialect`,
so the translation logic is shared and only the spelling differs:

================  =====================================  ======================================
concept           DuckDB                                 Spark SQL
================  =====================================  ======================================
a JSON value      ``JSON`` (text, parsed by yyjson)      ``VARIANT`` (binary, parsed once)
value at a path   ``json_extract(r, '$.a.b')``           ``variant_get(r, '$.a.b')``
array at a path   ``json_extract(r, '$.a[*].b[*]')``     ``try_variant_get(r, '$.a', 'array<variant>')``
collection        ``LIST`` (1-based)                     ``ARRAY`` (0-based lambda index)
map / filter      ``list_transform`` / ``list_filter``   ``transform`` / ``filter``
fold              ``list_reduce(l, f, init)``            ``aggregate(l, init, f)``
row struct        ``struct_pack(a := x)``                ``named_struct('a', x)``
rows to table     ``unnest(rows)``                       ``explode(rows)``
run-time error    ``error('...')``                       ``raise_error('...')``
decimal           ``DOUBLE``                             ``DOUBLE``
================  =====================================  ======================================
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Final, Literal

Kind = Literal["json", "string", "boolean", "integer", "decimal", "date", "datetime", "time"]
#: Kinds held as text in SQL (FHIR dates and times keep their JSON text).
TEXT_KINDS: Final = frozenset({"string", "date", "datetime", "time"})
NUMBER_KINDS: Final = frozenset({"integer", "decimal"})

Segment = str | int  # an object key or an array index
Step = tuple[Segment, bool]  # (segment, the value there is an array to flatten)

#: The column of the source relation holding the resource.
ROOT_COLUMN: Final = "resource"

#: Starts the text of every run-time error the compiled SQL raises (runners turn it into a
#: ViewDefinitionError); the rest is ``"<place in the view>: <message>"``.
ERROR_MARK: Final = "ViewDefinition error: "

_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class Dialect:
    """How one SQL engine spells the constructs the compiler needs (see the module docstring)."""

    name = "sql"
    lambda_index_base = 0  # the index a 2-parameter lambda gives to the first item

    # -- types, names, literals ------------------------------------------------------------------------

    def sql_type(self, kind: Kind) -> str:
        raise NotImplementedError

    def list_type(self, kind: Kind) -> str:
        raise NotImplementedError

    def ident(self, name: str) -> str:
        raise NotImplementedError

    def str_lit(self, value: str) -> str:
        return "'" + value.replace("'", "''") + "'"

    def number_lit(self, value: object, kind: Kind) -> str:
        return f"CAST({value} AS {self.sql_type(kind)})"

    def cast(self, sql: str, kind: Kind) -> str:
        return f"CAST({sql} AS {self.sql_type(kind)})"

    def null(self, kind: Kind) -> str:
        return f"CAST(NULL AS {self.sql_type(kind)})"

    def json_literal(self, value: object) -> str:
        raise NotImplementedError

    # -- lists and structs -----------------------------------------------------------------------------

    def lam(self, params: Sequence[str], body: str) -> str:
        raise NotImplementedError

    def transform(self, lst: str, params: Sequence[str], body: str) -> str:
        raise NotImplementedError

    def filter(self, lst: str, params: Sequence[str], body: str) -> str:
        raise NotImplementedError

    def flatten(self, lst: str) -> str:
        return f"flatten({lst})"

    def concat(self, lists: Sequence[str]) -> str:
        raise NotImplementedError

    def size(self, lst: str) -> str:
        raise NotImplementedError

    def elem(self, lst: str, pos: str) -> str:
        """Item ``pos`` (1-based; -1 is the last) or NULL."""
        raise NotImplementedError

    def array(self, items: Sequence[str], kind: Kind) -> str:
        raise NotImplementedError

    def array_of(self, items: Sequence[str], elem_type: str) -> str:
        """A list of ``items`` whose element SQL type is ``elem_type`` (also when empty)."""
        raise NotImplementedError

    def struct(self, fields: Sequence[tuple[str, str]]) -> str:
        raise NotImplementedError

    def field(self, struct: str, name: str) -> str:
        raise NotImplementedError

    def struct_type(self, fields: Sequence[tuple[str, str]]) -> str:
        raise NotImplementedError

    def array_type(self, elem_type: str) -> str:
        raise NotImplementedError

    def reduce(self, lst: str, init: str, acc: str, item: str, body: str) -> str:
        raise NotImplementedError

    def sequence(self, n: int) -> str:
        raise NotImplementedError

    def sort_by_text(self, lst: str, key: str, left: str, right: str) -> str:
        """``lst`` (structs) sorted by their text field ``key``; ``left``/``right`` are fresh names."""
        raise NotImplementedError

    def contains(self, lst: str, item: str) -> str:
        raise NotImplementedError

    def join(self, lst: str, sep: str) -> str:
        raise NotImplementedError

    # -- scalar functions ------------------------------------------------------------------------------

    def error(self, message: str) -> str:
        raise NotImplementedError

    def concat_text(self, parts: Sequence[str]) -> str:
        return "(" + " || ".join(parts) + ")"

    def lpad(self, sql: str, width: int) -> str:
        return f"lpad(CAST({sql} AS {self.sql_type('string')}), {width}, '0')"

    def length(self, sql: str) -> str:
        return f"length({sql})"

    def substr(self, sql: str, start: str, length: str | None = None) -> str:
        """1-based ``start``."""
        return f"substr({sql}, {start}, {length})" if length is not None else f"substr({sql}, {start})"

    def regexp_extract(self, sql: str, pattern: str, group: int = 1) -> str:
        """Group ``group`` of ``pattern`` in ``sql``, '' when it does not match."""
        return f"regexp_extract({sql}, {self.str_lit(pattern)}, {group})"

    def split_part(self, sql: str, sep: str, index: int) -> str:
        return f"split_part({sql}, {self.str_lit(sep)}, {index})"

    def starts_with(self, sql: str, prefix: str) -> str:
        return f"starts_with({sql}, {prefix})"

    def ends_with(self, sql: str, suffix: str) -> str:
        raise NotImplementedError

    def contains_text(self, sql: str, part: str) -> str:
        raise NotImplementedError

    def last_day(self, year_month: str) -> str:
        """'YYYY-MM-DD' of the last day of the month 'YYYY-MM'."""
        raise NotImplementedError

    def divide(self, a: str, b: str) -> str:
        """``a / b`` as a double, NULL when ``b`` is 0."""
        raise NotImplementedError

    def int_div(self, a: str, b: str) -> str:
        raise NotImplementedError

    def mod(self, a: str, b: str) -> str:
        raise NotImplementedError

    # -- JSON ------------------------------------------------------------------------------------------

    def json_path(self, segments: Sequence[Segment]) -> str:
        out = "$"
        for s in segments:
            if isinstance(s, int):
                out += f"[{s}]"
            elif _PLAIN_KEY.match(s):
                out += f".{s}"
            else:
                out += '["' + s.replace('"', '\\"') + '"]'
        return self.str_lit(out)

    def json_get(self, base: str, segments: Sequence[Segment], kind: Kind) -> str:
        """The value at ``segments`` under the JSON scalar ``base``, as ``kind`` (NULL when absent)."""
        raise NotImplementedError

    def json_to(self, value: str, kind: Kind) -> str:
        """A JSON scalar converted to ``kind``."""
        return self.json_get(value, (), kind)

    def json_array(self, base: str, segments: Sequence[Segment], drop_nulls: bool) -> str:
        """The items of the JSON array at ``segments`` ([] when absent or not an array)."""
        raise NotImplementedError

    def json_items(self, base: str, steps: Sequence[Step], drop_nulls: bool) -> str:
        """Every value reached from the JSON scalar ``base`` along ``steps``, flattened (a list).

        At least one step is an array. This generic form nests ``transform``/``flatten``; DuckDB
        overrides it with one wildcard path.
        """
        first = next(i for i, (_, arr) in enumerate(steps) if arr)
        head = [s for s, _ in steps[: first + 1]]
        rest = steps[first + 1 :]
        items = self.json_array(base, head, drop_nulls and not rest)
        if not rest:
            return items
        var = self.fresh("j")
        if any(arr for _, arr in rest):
            return self.flatten(self.transform(items, [var], self.json_items(var, rest, drop_nulls)))
        got = self.transform(items, [var], self.json_get(var, [s for s, _ in rest], "json"))
        var2 = self.fresh("j")
        return self.filter(got, [var2], f"NOT {self.json_is_null(var2)}")

    def json_is_null(self, value: str) -> str:
        """Whether ``value`` is SQL NULL or the JSON null."""
        raise NotImplementedError

    def json_is(self, value: str, kind: Kind) -> str:
        """Whether the JSON scalar ``value`` holds a value of ``kind`` (string, boolean, a number...)."""
        raise NotImplementedError

    def json_text(self, value: str) -> str:
        """The JSON text of a JSON value (for comparing values of unknown type)."""
        raise NotImplementedError

    # -- lambda variable names -------------------------------------------------------------------------

    def __init__(self) -> None:
        self._counter = 0

    def fresh(self, prefix: str) -> str:
        self._counter += 1
        return f"_{prefix}{self._counter}"

    # -- the outer query -------------------------------------------------------------------------------

    def explode(self, rows: str) -> str:
        raise NotImplementedError


class DuckDB(Dialect):
    """DuckDB 1.1+ (the JSON extension ships with DuckDB)."""

    name = "duckdb"
    lambda_index_base = 1
    _TYPES: Final = {
        "json": "JSON",
        "string": "VARCHAR",
        "boolean": "BOOLEAN",
        "integer": "BIGINT",
        "decimal": "DOUBLE",
        "date": "VARCHAR",
        "datetime": "VARCHAR",
        "time": "VARCHAR",
    }

    def sql_type(self, kind: Kind) -> str:
        return self._TYPES[kind]

    def list_type(self, kind: Kind) -> str:
        return self._TYPES[kind] + "[]"

    def ident(self, name: str) -> str:
        return '"' + name.replace('"', '""') + '"'

    def json_literal(self, value: object) -> str:
        return f"CAST({self.str_lit(json.dumps(value, separators=(',', ':')))} AS JSON)"

    def lam(self, params: Sequence[str], body: str) -> str:
        return f"lambda {', '.join(params)}: {body}"

    def transform(self, lst: str, params: Sequence[str], body: str) -> str:
        return f"list_transform({lst}, {self.lam(params, body)})"

    def filter(self, lst: str, params: Sequence[str], body: str) -> str:
        return f"list_filter({lst}, {self.lam(params, body)})"

    def concat(self, lists: Sequence[str]) -> str:
        out = lists[0]
        for other in lists[1:]:
            out = f"list_concat({out}, {other})"
        return out

    def size(self, lst: str) -> str:
        return f"len({lst})"

    def elem(self, lst: str, pos: str) -> str:
        return f"({lst})[{pos}]"

    def array(self, items: Sequence[str], kind: Kind) -> str:
        return self.array_of(items, self.sql_type(kind))

    def array_of(self, items: Sequence[str], elem_type: str) -> str:
        if not items:
            return f"CAST([] AS {elem_type}[])"
        return "[" + ", ".join(items) + "]"

    def struct(self, fields: Sequence[tuple[str, str]]) -> str:
        return "struct_pack(" + ", ".join(f"{self.ident(n)} := {v}" for n, v in fields) + ")"

    def field(self, struct: str, name: str) -> str:
        return f"({struct}).{self.ident(name)}"

    def struct_type(self, fields: Sequence[tuple[str, str]]) -> str:
        return "STRUCT(" + ", ".join(f"{self.ident(n)} {t}" for n, t in fields) + ")"

    def array_type(self, elem_type: str) -> str:
        return f"{elem_type}[]"

    def reduce(self, lst: str, init: str, acc: str, item: str, body: str) -> str:
        return f"list_reduce({lst}, {self.lam([acc, item], body)}, {init})"

    def sequence(self, n: int) -> str:
        return f"range({n})"

    def sort_by_text(self, lst: str, key: str, left: str, right: str) -> str:
        # structs sort field by field: ``key`` must be the first field and unique
        return f"list_sort({lst})"

    def contains(self, lst: str, item: str) -> str:
        return f"list_contains({lst}, {item})"

    def join(self, lst: str, sep: str) -> str:
        return f"array_to_string({lst}, {sep})"

    def error(self, message: str) -> str:
        return f"error({self.str_lit(ERROR_MARK + message)})"

    def ends_with(self, sql: str, suffix: str) -> str:
        return f"ends_with({sql}, {suffix})"

    def contains_text(self, sql: str, part: str) -> str:
        return f"contains({sql}, {part})"

    def last_day(self, year_month: str) -> str:
        return f"strftime(last_day(CAST({year_month} || '-01' AS DATE)), '%Y-%m-%d')"

    def divide(self, a: str, b: str) -> str:
        return f"(CAST({a} AS DOUBLE) / nullif(CAST({b} AS DOUBLE), 0))"

    def int_div(self, a: str, b: str) -> str:
        return f"({a} // nullif({b}, 0))"

    def mod(self, a: str, b: str) -> str:
        return f"({a} % nullif({b}, 0))"

    def __init__(self) -> None:
        super().__init__()
        self.top_keys: dict[str, None] = {}  # the resource's top-level elements the query reads

    def _top(self, base: str, first: Segment | None) -> str | None:
        """The pre-extracted top-level element ``first`` of the resource, when ``base`` is the resource.

        DuckDB's JSON is text and every ``json_extract`` parses its whole input: a view reading ten
        paths of a 2 kB resource parses it ten times. The query extracts every top-level element it
        uses once (``json_transform`` to a struct ``_top``, see :meth:`top_struct`) and later steps
        parse only those small pieces.
        """
        if base != ROOT_COLUMN or not isinstance(first, str):
            return None
        self.top_keys[first] = None
        return f"_top.{self.ident(first)}"

    def top_struct(self) -> str | None:
        """``json_transform(resource, ...) AS _top`` for the elements used, or None."""
        if not self.top_keys:
            return None
        shape = json.dumps(dict.fromkeys(self.top_keys, "JSON"), separators=(",", ":"))
        return f"json_transform({ROOT_COLUMN}, {self.str_lit(shape)}) AS _top"

    def json_get(self, base: str, segments: Sequence[Segment], kind: Kind) -> str:
        top = self._top(base, segments[0] if segments else None)
        if top is not None:
            base, segments = top, segments[1:]
        path = self.json_path(segments)
        if kind in TEXT_KINDS:
            return f"json_extract_string({base}, {path})"
        if kind == "json":
            return f"json_extract({base}, {path})" if segments else base
        if not segments:
            return f"CAST({base} AS {self.sql_type(kind)})"
        return f"CAST(json_extract({base}, {path}) AS {self.sql_type(kind)})"

    def json_array(self, base: str, segments: Sequence[Segment], drop_nulls: bool) -> str:
        return self.json_items(base, [*((s, False) for s in segments[:-1]), (segments[-1], True)], drop_nulls)

    def json_items(self, base: str, steps: Sequence[Step], drop_nulls: bool) -> str:
        path = "$"
        top = self._top(base, steps[0][0] if steps else None)
        if top is not None:
            base = top
            path += "[*]" if steps[0][1] else ""
            steps = steps[1:]
        for seg, arr in steps:
            path += (
                f"[{seg}]" if isinstance(seg, int) else (f".{seg}" if _PLAIN_KEY.match(seg) else f'."{seg}"')
            )
            if arr:
                path += "[*]"
        out = f"coalesce(json_extract({base}, {self.str_lit(path)}), CAST([] AS JSON[]))"
        if drop_nulls:
            var = self.fresh("n")
            out = self.filter(out, [var], f"json_type({var}) <> 'NULL'")
        return out

    def json_is_null(self, value: str) -> str:
        return f"coalesce(json_type({value}) = 'NULL', true)"

    def json_is(self, value: str, kind: Kind) -> str:
        types = {
            "boolean": "('BOOLEAN')",
            "integer": "('BIGINT', 'UBIGINT')",
            "decimal": "('BIGINT', 'UBIGINT', 'DOUBLE')",
            "json": "('OBJECT')",
        }.get(kind, "('VARCHAR')")
        return f"coalesce(json_type({value}) IN {types}, false)"

    def json_text(self, value: str) -> str:
        return f"CAST({value} AS VARCHAR)"

    def explode(self, rows: str) -> str:
        return f"unnest({rows})"


class Spark(Dialect):
    """Spark SQL 4.0+ (``VARIANT``, ``parse_json``, ``variant_get``; ANSI mode on or off)."""

    name = "spark"
    lambda_index_base = 0
    _TYPES: Final = {
        "json": "VARIANT",
        "string": "STRING",
        "boolean": "BOOLEAN",
        "integer": "BIGINT",
        "decimal": "DOUBLE",
        "date": "STRING",
        "datetime": "STRING",
        "time": "STRING",
    }

    def sql_type(self, kind: Kind) -> str:
        return self._TYPES[kind]

    def list_type(self, kind: Kind) -> str:
        return f"ARRAY<{self._TYPES[kind]}>"

    def ident(self, name: str) -> str:
        return "`" + name.replace("`", "``") + "`"

    def str_lit(self, value: str) -> str:
        # Spark string literals take backslash escapes
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"

    def json_literal(self, value: object) -> str:
        return f"parse_json({self.str_lit(json.dumps(value, separators=(',', ':')))})"

    def lam(self, params: Sequence[str], body: str) -> str:
        p = params[0] if len(params) == 1 else "(" + ", ".join(params) + ")"
        return f"{p} -> {body}"

    def transform(self, lst: str, params: Sequence[str], body: str) -> str:
        return f"transform({lst}, {self.lam(params, body)})"

    def filter(self, lst: str, params: Sequence[str], body: str) -> str:
        return f"filter({lst}, {self.lam(params, body)})"

    def concat(self, lists: Sequence[str]) -> str:
        return lists[0] if len(lists) == 1 else "concat(" + ", ".join(lists) + ")"

    def size(self, lst: str) -> str:
        return f"size({lst})"

    def elem(self, lst: str, pos: str) -> str:
        return f"try_element_at({lst}, CAST({pos} AS INT))"

    def array(self, items: Sequence[str], kind: Kind) -> str:
        return self.array_of(items, self.sql_type(kind))

    def array_of(self, items: Sequence[str], elem_type: str) -> str:
        return f"CAST(array({', '.join(items)}) AS ARRAY<{elem_type}>)"

    def struct(self, fields: Sequence[tuple[str, str]]) -> str:
        return "named_struct(" + ", ".join(f"{self.str_lit(n)}, {v}" for n, v in fields) + ")"

    def field(self, struct: str, name: str) -> str:
        return f"{struct}.{self.ident(name)}"

    def struct_type(self, fields: Sequence[tuple[str, str]]) -> str:
        return "STRUCT<" + ", ".join(f"{self.ident(n)}: {t}" for n, t in fields) + ">"

    def array_type(self, elem_type: str) -> str:
        return f"ARRAY<{elem_type}>"

    def reduce(self, lst: str, init: str, acc: str, item: str, body: str) -> str:
        return f"aggregate({lst}, {init}, {self.lam([acc, item], body)})"

    def sequence(self, n: int) -> str:
        return f"sequence(1, {n})"

    def sort_by_text(self, lst: str, key: str, left: str, right: str) -> str:
        lk, rk = self.field(left, key), self.field(right, key)
        cmp = f"CASE WHEN {lk} < {rk} THEN -1 WHEN {lk} > {rk} THEN 1 ELSE 0 END"
        return f"array_sort({lst}, {self.lam([left, right], cmp)})"

    def contains(self, lst: str, item: str) -> str:
        return f"array_contains({lst}, {item})"

    def join(self, lst: str, sep: str) -> str:
        return f"array_join({lst}, {sep})"

    def error(self, message: str) -> str:
        return f"raise_error({self.str_lit(ERROR_MARK + message)})"

    def starts_with(self, sql: str, prefix: str) -> str:
        return f"startswith({sql}, {prefix})"

    def ends_with(self, sql: str, suffix: str) -> str:
        return f"endswith({sql}, {suffix})"

    def contains_text(self, sql: str, part: str) -> str:
        return f"contains({sql}, {part})"

    def last_day(self, year_month: str) -> str:
        return f"date_format(last_day(to_date(concat({year_month}, '-01'))), 'yyyy-MM-dd')"

    def divide(self, a: str, b: str) -> str:
        return f"try_divide(CAST({a} AS DOUBLE), CAST({b} AS DOUBLE))"

    def int_div(self, a: str, b: str) -> str:
        return f"CASE WHEN {b} = 0 THEN NULL ELSE ({a} div {b}) END"

    def mod(self, a: str, b: str) -> str:
        return f"try_mod({a}, {b})"

    def json_get(self, base: str, segments: Sequence[Segment], kind: Kind) -> str:
        path = self.json_path(segments)
        if kind == "json":
            return f"variant_get({base}, {path})" if segments else base
        return f"variant_get({base}, {path}, {self.str_lit(self.sql_type(kind).lower())})"

    def json_array(self, base: str, segments: Sequence[Segment], drop_nulls: bool) -> str:
        out = (
            f"coalesce(try_variant_get({base}, {self.json_path(segments)}, 'array<variant>'), "
            "CAST(array() AS ARRAY<VARIANT>))"
        )
        if drop_nulls:
            var = self.fresh("n")
            out = self.filter(out, [var], f"NOT is_variant_null({var})")
        return out

    def json_is_null(self, value: str) -> str:
        return f"({value} IS NULL OR is_variant_null({value}))"

    def json_is(self, value: str, kind: Kind) -> str:
        s = f"schema_of_variant({value})"
        test = {
            "boolean": f"{s} = 'BOOLEAN'",
            "integer": f"{s} IN ('BIGINT', 'INT', 'SMALLINT', 'TINYINT')",
            "decimal": f"({s} IN ('BIGINT', 'INT', 'SMALLINT', 'TINYINT', 'DOUBLE', 'FLOAT') OR {s} LIKE 'DECIMAL%')",
            "json": f"{s} LIKE 'OBJECT%'",
        }.get(kind, f"{s} = 'STRING'")
        return f"coalesce({test}, false)"

    def json_text(self, value: str) -> str:
        return f"to_json({value})"

    def explode(self, rows: str) -> str:
        return f"explode({rows})"


def dialect(name: str) -> Dialect:
    """A fresh dialect object (it numbers lambda variables) for ``"duckdb"`` or ``"spark"``."""
    if name == "duckdb":
        return DuckDB()
    if name == "spark":
        return Spark()
    raise ValueError(f"unknown SQL dialect {name!r} (duckdb or spark)")
