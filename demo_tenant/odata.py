"""OData `$filter` and Graph `$search` as Microsoft Graph parses them, evaluated over seed objects.

The grammar is the subset Graph supports on the collections the demo tenant serves:

    expr     := and_expr ("or" and_expr)*
    and_expr := unary ("and" unary)*
    unary    := "not" unary | "(" expr ")" | call | lambda | operand op operand | operand "in" "(" literal, ... ")"
    op       := eq | ne | gt | ge | lt | le
    call     := startswith(path, 'text') | endswith(path, 'text')
    lambda   := path/any(v: expr) | path/all(v: expr)
    literal  := 'text' ('' is an escaped quote) | 2026-11-21T00:00:00Z | 12 | true | false | null

Like Graph: string comparison ignores case, date-time properties (names ending in `DateTime`) only compare
with unquoted DateTimeOffset literals, and a malformed clause (an unescaped quote, say) is a 400
"Invalid filter clause". That strictness is deliberate: it is how tests prove a client escapes and types
its filters.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from demo_tenant.timeutil import parse_iso

# A property's date-time text, parsed once: a filter over thousands of message-trace rows compares each row's time
# twice, and the same rows are read again by every page and every account's investigation.
_entity_time = functools.lru_cache(maxsize=65536)(parse_iso)


class ODataError(ValueError):
    """A `$filter`/`$search` Graph would refuse. `code` is Graph's error code for it."""

    def __init__(self, message: str, code: str = "BadRequest") -> None:
        super().__init__(message)
        self.message = message
        self.code = code


_OPS = {"eq", "ne", "gt", "ge", "lt", "le"}
_OP_KIND = {
    "eq": "Equal", "ne": "NotEqual", "gt": "GreaterThan", "ge": "GreaterThanOrEqual", "lt": "LessThan",
    "le": "LessThanOrEqual",
}
_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,7})?)?(?:Z|[+-]\d{2}:\d{2}))
  | (?P<guid>[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}(?![\w-]))
  | (?P<number>-?\d+(?:\.\d+)?(?![\w.]))
  | (?P<ident>[A-Za-z_$@][\w$@.]*(?:/[A-Za-z_$@][\w$@.]*)*)
  | (?P<punct>[(),:])
    """,
    re.VERBOSE,
)


@dataclass(frozen=True)
class _Tok:
    kind: str  # string, datetime, guid, number, ident, punct, end
    text: str
    pos: int
    value: Any = None


def _tokenize(source: str) -> list[_Tok]:
    tokens: list[_Tok] = []
    pos = 0
    while pos < len(source):
        if source[pos] == "'":
            # An OData string literal: '' inside it is one quote. A lone quote ends it.
            end = pos + 1
            chars: list[str] = []
            while True:
                if end >= len(source):
                    raise _syntax(source, pos)
                if source[end] == "'":
                    if end + 1 < len(source) and source[end + 1] == "'":
                        chars.append("'")
                        end += 2
                        continue
                    break
                chars.append(source[end])
                end += 1
            tokens.append(_Tok("string", source[pos:end + 1], pos, "".join(chars)))
            pos = end + 1
            continue
        match = _TOKEN.match(source, pos)
        if not match or match.end() == pos:
            raise _syntax(source, pos)
        kind = match.lastgroup or ""
        if kind != "ws":
            tokens.append(_Tok(kind, match.group(), pos))
        pos = match.end()
    tokens.append(_Tok("end", "", len(source)))
    return tokens


def _syntax(source: str, pos: int) -> ODataError:
    char = source[pos] if pos < len(source) else ""
    detail = f"character '{char}' is not valid" if char else "unexpected end of input"
    return ODataError(f"Invalid filter clause: Syntax error: {detail} at position {pos} in '{source}'.")


# --- AST ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Path:
    """A property path such as `userPrincipalName`, `initiatedBy/user/id` or a lambda variable `t/id`."""

    segments: tuple[str, ...]

    @property
    def is_datetime(self) -> bool:
        """Graph types these properties as Edm.DateTimeOffset."""
        return self.segments[-1].endswith("DateTime")


@dataclass(frozen=True)
class Literal:
    """A constant: kind is string, datetime, number, bool or null."""

    kind: str
    value: Any


Operand = Path | Literal


@dataclass(frozen=True)
class Compare:
    """`left op right`."""

    op: str
    left: Operand
    right: Operand


@dataclass(frozen=True)
class In:
    """`path in (a, b, ...)`."""

    left: Path
    values: tuple[Literal, ...]
    # The string values folded, for a set lookup (an outbreak's filters name hundreds of ids).
    folded: frozenset[str] | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.values and all(v.kind == "string" and isinstance(v.value, str) for v in self.values):
            object.__setattr__(self, "folded", frozenset(str(v.value).casefold() for v in self.values))


@dataclass(frozen=True)
class Call:
    """`startswith(path, 'x')` / `endswith(path, 'x')`."""

    name: str
    path: Path
    arg: Literal


@dataclass(frozen=True)
class Lambda:
    """`path/any(v: body)` or `path/all(v: body)`."""

    kind: str
    path: Path
    var: str
    body: Node | None


@dataclass(frozen=True)
class BoolOp:
    """`and` / `or` over two or more nodes."""

    op: str
    items: tuple[Node, ...]
    # `p eq 'a' or p eq 'b' or …` over one property is `p in ('a', 'b', …)`: evaluated as a set lookup.
    as_in: In | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.op != "or":
            return
        paths: set[Path] = set()
        values: list[Literal] = []
        for item in self.items:
            if not (isinstance(item, Compare) and item.op == "eq" and isinstance(item.left, Path)
                    and isinstance(item.right, Literal) and item.right.kind == "string"):
                return
            paths.add(item.left)
            values.append(item.right)
        if len(paths) == 1:
            object.__setattr__(self, "as_in", In(paths.pop(), tuple(values)))


@dataclass(frozen=True)
class Not:
    """`not node`."""

    item: Node


Node = Compare | In | Call | Lambda | BoolOp | Not


@dataclass
class Filter:
    """A parsed `$filter`: the tree, plus which features it uses (Graph gates some behind advanced queries)."""

    source: str
    root: Node
    features: set[str] = field(default_factory=set)
    properties: set[str] = field(default_factory=set)

    def matches(self, entity: Mapping[str, Any]) -> bool:
        """True when the entity satisfies the filter."""
        return _truth(self.root, entity, {})


class _Parser:
    def __init__(self, source: str) -> None:
        self.source = source
        self.tokens = _tokenize(source)
        self.i = 0
        self.features: set[str] = set()
        self.properties: set[str] = set()
        self.vars: list[str] = []

    # token helpers
    def peek(self, ahead: int = 0) -> _Tok:
        return self.tokens[min(self.i + ahead, len(self.tokens) - 1)]

    def next(self) -> _Tok:
        tok = self.peek()
        self.i += 1
        return tok

    def keyword(self, *words: str) -> str | None:
        tok = self.peek()
        if tok.kind == "ident" and tok.text.lower() in words:
            self.i += 1
            return tok.text.lower()
        return None

    def expect(self, text: str) -> None:
        tok = self.next()
        if tok.text != text:
            raise _syntax(self.source, tok.pos)

    # grammar
    def parse(self) -> Filter:
        root = self.expr()
        if self.peek().kind != "end":
            raise _syntax(self.source, self.peek().pos)
        return Filter(self.source, root, self.features, self.properties)

    def expr(self) -> Node:
        items = [self.and_expr()]
        while self.keyword("or"):
            items.append(self.and_expr())
        return items[0] if len(items) == 1 else BoolOp("or", tuple(items))

    def and_expr(self) -> Node:
        items = [self.unary()]
        while self.keyword("and"):
            items.append(self.unary())
        return items[0] if len(items) == 1 else BoolOp("and", tuple(items))

    def unary(self) -> Node:
        if self.keyword("not"):
            self.features.add("not")
            return Not(self.unary())
        tok = self.peek()
        if tok.kind == "punct" and tok.text == "(":
            self.next()
            node = self.expr()
            self.expect(")")
            return node
        if tok.kind == "ident" and self.peek(1).text == "(":
            return self.call_or_lambda()
        left = self.operand()
        op_tok = self.peek()
        op = self.keyword(*_OPS, "in")
        if op is None:
            raise _syntax(self.source, op_tok.pos)
        if op == "in":
            if not isinstance(left, Path):
                raise _syntax(self.source, op_tok.pos)
            self.expect("(")
            values = [self.literal()]
            while self.peek().text == ",":
                self.next()
                values.append(self.literal())
            self.expect(")")
            self.features.add("in")
            return In(left, tuple(values))
        if op == "ne":
            self.features.add("ne")
        right = self.operand()
        self._check_types(op, left, right, op_tok.pos)
        return Compare(op, left, right)

    def call_or_lambda(self) -> Node:
        tok = self.next()
        name = tok.text
        lowered = name.lower()
        if lowered.endswith("/any") or lowered.endswith("/all"):
            path = self.path_of(name.rsplit("/", 1)[0], tok.pos)
            kind = lowered.rsplit("/", 1)[1]
            self.features.add(kind)
            self.expect("(")
            if self.peek().text == ")":
                self.next()
                return Lambda(kind, path, "", None)
            var_tok = self.next()
            if var_tok.kind != "ident" or "/" in var_tok.text:
                raise _syntax(self.source, var_tok.pos)
            self.expect(":")
            self.vars.append(var_tok.text)
            try:
                body = self.expr()
            finally:
                self.vars.pop()
            self.expect(")")
            return Lambda(kind, path, var_tok.text, body)
        if lowered not in ("startswith", "endswith"):
            raise ODataError(
                f"Invalid filter clause: An unknown function with name '{name}' was found. This may also be a "
                "function import or a key lookup on a navigation property, which is not allowed."
            )
        self.features.add(lowered)
        self.expect("(")
        path_tok = self.next()
        if path_tok.kind != "ident":
            raise _syntax(self.source, path_tok.pos)
        path = self.path_of(path_tok.text, path_tok.pos)
        self.expect(",")
        arg = self.literal()
        if arg.kind != "string":
            raise ODataError(
                f"Invalid filter clause: No function signature for the function with name '{name}' matches the "
                "specified arguments."
            )
        self.expect(")")
        return Call(lowered, path, arg)

    def path_of(self, text: str, pos: int) -> Path:
        segments = tuple(text.split("/"))
        if any(not s for s in segments):
            raise _syntax(self.source, pos)
        if segments[0] not in self.vars:
            self.properties.add(segments[0])
        return Path(segments)

    def operand(self) -> Operand:
        tok = self.peek()
        if tok.kind == "ident" and tok.text.lower() not in ("true", "false", "null"):
            self.next()
            return self.path_of(tok.text, tok.pos)
        return self.literal()

    def literal(self) -> Literal:
        tok = self.next()
        if tok.kind == "string":
            return Literal("string", tok.value)
        if tok.kind == "datetime":
            moment = parse_iso(tok.text)
            if moment is None:
                raise _syntax(self.source, tok.pos)
            return Literal("datetime", moment)
        if tok.kind == "guid":
            return Literal("guid", tok.text)
        if tok.kind == "number":
            return Literal("number", float(tok.text) if "." in tok.text else int(tok.text))
        if tok.kind == "ident" and tok.text.lower() in ("true", "false"):
            return Literal("bool", tok.text.lower() == "true")
        if tok.kind == "ident" and tok.text.lower() == "null":
            return Literal("null", None)
        raise _syntax(self.source, tok.pos)

    def _check_types(self, op: str, left: Operand, right: Operand, pos: int) -> None:
        # Graph refuses `createdDateTime ge '2026-...'` (a quoted date is Edm.String), and the reverse.
        for a, b in ((left, right), (right, left)):
            if isinstance(a, Path) and isinstance(b, Literal) and b.kind != "null":
                wanted = "datetime" if a.is_datetime else None
                if (wanted == "datetime") != (b.kind == "datetime"):
                    left_type = "Edm.DateTimeOffset" if a.is_datetime else "Edm.String"
                    right_type = "Edm.DateTimeOffset" if b.kind == "datetime" else "Edm.String"
                    raise ODataError(
                        "Invalid filter clause: A binary operator with incompatible types was detected. Found "
                        f"operand types '{left_type}' and '{right_type}' for operator kind '{_OP_KIND[op]}'."
                    )


def parse_filter(source: str) -> Filter:
    """Parse a `$filter` value; raises `ODataError` with Graph's message when Graph would refuse it."""
    if not source.strip():
        raise ODataError("Invalid filter clause: The $filter expression must not be empty.")
    return _Parser(source).parse()


# --- evaluation --------------------------------------------------------------------------------------------


def _resolve(path: Path, entity: Mapping[str, Any], scope: Mapping[str, Any]) -> Any:
    segments = path.segments
    if segments[0] in scope:
        current: Any = scope[segments[0]]
        segments = segments[1:]
    else:
        current = entity
    for segment in segments:
        if isinstance(current, Mapping):
            current = _get_ci(current, segment)
        else:
            return None
    return current


def _get_ci(obj: Mapping[str, Any], key: str) -> Any:
    if key in obj:
        return obj[key]
    lowered = key.lower()
    for name, value in obj.items():
        if name.lower() == lowered:
            return value
    return None


def _value(operand: Operand, entity: Mapping[str, Any], scope: Mapping[str, Any]) -> tuple[Any, bool]:
    """The operand's value, and whether it is a date-time."""
    if isinstance(operand, Literal):
        return operand.value, operand.kind == "datetime"
    value = _resolve(operand, entity, scope)
    if operand.is_datetime and isinstance(value, str):
        return _entity_time(value), True
    return value, False


def _norm(value: Any) -> Any:
    return value.casefold() if isinstance(value, str) else value


def _compare(op: str, left: Any, right: Any) -> bool:
    if op == "eq":
        return bool(_norm(left) == _norm(right))
    if op == "ne":
        return bool(_norm(left) != _norm(right))
    if left is None or right is None:
        return False
    a, b = _norm(left), _norm(right)
    if isinstance(a, datetime) != isinstance(b, datetime):
        return False
    try:
        if op == "gt":
            return bool(a > b)
        if op == "ge":
            return bool(a >= b)
        if op == "lt":
            return bool(a < b)
        return bool(a <= b)
    except TypeError:
        return False


def _truth(node: Node, entity: Mapping[str, Any], scope: Mapping[str, Any]) -> bool:
    if isinstance(node, BoolOp):
        if node.as_in is not None:
            return _truth(node.as_in, entity, scope)
        if node.op == "and":
            return all(_truth(item, entity, scope) for item in node.items)
        return any(_truth(item, entity, scope) for item in node.items)
    if isinstance(node, Not):
        return not _truth(node.item, entity, scope)
    if isinstance(node, Compare):
        left, _ = _value(node.left, entity, scope)
        right, _ = _value(node.right, entity, scope)
        return _compare(node.op, left, right)
    if isinstance(node, In):
        value, _ = _value(node.left, entity, scope)
        if node.folded is not None:
            return isinstance(value, str) and value.casefold() in node.folded
        return any(_compare("eq", value, literal.value) for literal in node.values)
    if isinstance(node, Call):
        value = _resolve(node.path, entity, scope)
        if not isinstance(value, str):
            return False
        text, arg = value.casefold(), str(node.arg.value).casefold()
        return text.startswith(arg) if node.name == "startswith" else text.endswith(arg)
    collection = _resolve(node.path, entity, scope)
    if not isinstance(collection, Sequence) or isinstance(collection, str):
        collection = []
    if node.body is None:
        return bool(collection) if node.kind == "any" else True
    results = (_truth(node.body, entity, {**scope, node.var: item}) for item in collection)
    return any(results) if node.kind == "any" else all(results)


# --- $search -----------------------------------------------------------------------------------------------

_SEARCH_CLAUSE = re.compile(r'\s*"(?P<prop>[^":]+):(?P<term>[^"]*)"\s*')
_WORD_SPLIT = re.compile(r"[^0-9a-zA-Z\u00c0-\uffff]+")


@dataclass(frozen=True)
class Search:
    """A parsed Graph `$search`: `"prop:term"` clauses joined by AND / OR (AND binds tighter)."""

    groups: tuple[tuple[tuple[str, str], ...], ...]  # OR of ANDs of (property, term)

    def matches(self, entity: Mapping[str, Any]) -> bool:
        """True when one AND-group has every clause matching (prefix of a word, ignoring case)."""
        return any(all(_search_hit(entity, prop, term) for prop, term in group) for group in self.groups)


def _search_hit(entity: Mapping[str, Any], prop: str, term: str) -> bool:
    value = _get_ci(entity, prop)
    values = value if isinstance(value, list) else [value]
    needle = term.strip().casefold()
    if not needle:
        return True
    for item in values:
        if not isinstance(item, str):
            continue
        text = item.casefold()
        # Graph tokenizes on spaces, punctuation and case changes and matches word prefixes.
        words = [w for w in _WORD_SPLIT.split(re.sub(r"([a-z])([A-Z])", r"\1 \2", item).casefold()) if w]
        if text.startswith(needle) or any(w.startswith(needle) for w in words):
            return True
        if " " in needle and needle in text:
            return True
    return False


def parse_search(source: str) -> Search:
    """Parse `$search`; each clause must be quoted and name a property, as Graph requires for directory objects."""
    text = source.strip()
    groups: list[tuple[tuple[str, str], ...]] = []
    current: list[tuple[str, str]] = []
    pos = 0
    expect_clause = True
    while pos < len(text):
        if expect_clause:
            match = _SEARCH_CLAUSE.match(text, pos)
            if not match:
                raise ODataError(
                    f"Syntax error: character '{text[pos]}' is not valid at position {pos} in '{source}'.",
                    code="Request_UnsupportedQuery",
                )
            current.append((match["prop"].strip(), match["term"]))
            pos = match.end()
            expect_clause = False
            continue
        word = re.match(r"(AND|OR)\s+", text[pos:])
        if not word:
            raise ODataError(
                f"Syntax error: character '{text[pos]}' is not valid at position {pos} in '{source}'.",
                code="Request_UnsupportedQuery",
            )
        if word.group(1) == "OR":
            groups.append(tuple(current))
            current = []
        pos += word.end()
        expect_clause = True
    if expect_clause or not current:
        raise ODataError(f"Syntax error: unexpected end of input in '{source}'.", code="Request_UnsupportedQuery")
    groups.append(tuple(current))
    return Search(tuple(groups))
