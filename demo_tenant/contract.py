"""Resolve a Graph request against Microsoft's v1.0 metadata, as Graph's OData layer does before any workload runs.

A path is walked segment by segment (entity set or singleton, key, navigation or structural property, type cast,
bound function or action), then `$select`, `$expand`, `$orderby` and every property path in `$filter` (lambda
variables included) are checked on the type the path ends on. What Graph refuses is raised as `ContractError` with
Graph's status, code and message:

- an unknown segment: 400 `BadRequest` "Resource not found for the segment 'x'." (as Graph answers it, e.g.
  microsoftgraph/msgraph-beta-sdk-python issue #764, "Resource not found for the segment 'auditLog'.");
- an unknown property: 400 `BadRequest` "Could not find a property named 'x' on type 'microsoft.graph.y'." (the OData
  library's message), behind "Parsing OData Select and Expand failed: " in `$select`/`$expand` (v1.0 answers
  quoted in microsoftgraph/microsoft-graph-docs-contrib issue #4529 and msgraph-beta-sdk-dotnet issue #563) and
  behind "Invalid filter clause: " in `$filter`;
- `$expand` of a structural property: "Property 'x' on type 'microsoft.graph.y' is not a navigation property or
  complex property. Only navigation properties can be expanded." (ODataErrorStrings, same prefix).

Open types (`directoryObject` and its subtypes such as `user` and `servicePrincipal`) accept undeclared names: Graph
answers without the property rather than with an error, so the demo tenant does too, and the offline contract check
(`strict_open`) flags them, because a client reading such a property gets nothing in production.

Collections of directory objects are the other exception: `/users/{id}/memberOf?$select=displayName` is answered by
Graph although `displayName` is declared on `group`/`directoryRole`, not on `directoryObject`, so a collection of
`directoryObject` accepts properties of its derived types in `$select`, `$orderby` and `$filter`.

It also checks a served body against its type (`body_violations`): every property must be declared on the type, on
the `@odata.type` named in the object, or be an instance annotation.

The contract log: when `DEMO_TENANT_CONTRACT_LOG` names a directory, every Graph request the demo tenant answers is
appended there as one JSON line (method, path segments, query; never headers, bodies or tokens), with any body
violation found; `python -m demo_tenant.contract_check DIR` re-resolves them offline.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from demo_tenant.csdl import Metadata, Prop, load
from demo_tenant.odata import BoolOp, Call, Compare, In, Lambda, Node, Not, ODataError, parse_filter
from demo_tenant.odata import Path as FilterPath

log = logging.getLogger(__name__)

CONTRACT_LOG_ENV = "DEMO_TENANT_CONTRACT_LOG"
_DIRECTORY_OBJECT = "microsoft.graph.directoryObject"
# Segments the OData layer answers itself rather than the model.
_SYSTEM_SEGMENTS = {"$count", "$ref", "$value"}
_SELECT_ALL = {"*", "id"}
_NAMESPACE_PREFIX = "microsoft.graph."
# Directory extension properties (`extension_{appId}_{name}`) are the dynamic properties open directory types have.
_EXTENSION = re.compile(r"^extension_[0-9a-f]{32}_\w+$", re.IGNORECASE)
_EXPAND_OPTIONS = re.compile(r"\$(\w+)=((?:[^;()]|\([^()]*\))*)")


# Graph's wording, e.g. "Parsing OData Select and Expand failed: Could not find a property named 'usedLicenseCount' on
# type 'microsoft.graph.mobileApp'." (microsoftgraph/microsoft-graph-docs-contrib issue #4529, v1.0; the same for
# mailFolder in mguessan/davmail issue #488) and "Invalid filter clause: ..." for $filter.
_SELECT_EXPAND_FAILED = "Parsing OData Select and Expand failed: "
_FILTER_FAILED = "Invalid filter clause: "


class ContractError(Exception):
    """A request real Graph refuses by its metadata: status, code and message as Graph answers."""

    def __init__(self, message: str, status: int = 400, code: str = "BadRequest") -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def _no_property(name: str, type_name: str) -> ContractError:
    return ContractError(f"Could not find a property named '{name}' on type '{type_name}'.")


def _no_segment(segment: str) -> ContractError:
    return ContractError(f"Resource not found for the segment '{segment}'.")


@dataclass(frozen=True)
class Target:
    """Where a path ends: the (element) type, whether it is a collection, and whether it is structured."""

    type: str
    collection: bool
    structured: bool = True


class Resolver:
    """Resolves request paths and query options against one `Metadata`."""

    def __init__(self, meta: Metadata | None = None, *, strict_open: bool = False) -> None:
        """`strict_open`: refuse undeclared names on open types too (Graph ignores them; the contract check not)."""
        self.meta = meta if meta is not None else load()
        self.strict_open = strict_open

    # --- path ---------------------------------------------------------------------------------------------

    def resolve_path(self, segments: Sequence[str]) -> Target:
        """The type a path (the segments after /v1.0, keys already split out) ends on; ContractError if unknown."""
        meta = self.meta
        if not segments:
            raise ContractError("Invalid request.")
        first = segments[0].lower()
        if first in meta.entity_sets:
            target = Target(meta.entity_sets[first], True)
        elif first in meta.singletons:
            target = Target(meta.singletons[first], False)
        else:
            raise _no_segment(segments[0])
        for segment in segments[1:]:
            target = self._step(target, segment)
        return target

    def _step(self, target: Target, segment: str) -> Target:
        meta = self.meta
        if not target.structured:
            if segment.lower() == "$value":
                return target
            raise _no_segment(segment)
        if segment.lower() in _SYSTEM_SEGMENTS:
            # `$count` and `$ref` keep the collection's type: query options still apply to it.
            return target
        cast = self._cast(target.type, segment)
        if cast is not None:
            return Target(cast, target.collection)
        op = meta.bound_operation(segment, target.type, target.collection)
        if op is not None:
            if op.returns is None:
                return Target("Edm.Untyped", False, False)
            structured = meta.type(op.returns) is not None
            return Target(op.returns, op.returns_collection, structured)
        if segment.lower().startswith(_NAMESPACE_PREFIX):
            raise _no_segment(segment)  # a cast to a type that is not a subtype, or an operation not bound here
        if target.collection:
            if meta.type(target.type) is None or meta.type(target.type).kind != "entity":  # type: ignore[union-attr]
                raise _no_segment(segment)
            # Anything else after an entity collection is a key (an id, a UPN, a well-known folder name).
            return Target(target.type, False)
        found = meta.prop(target.type, segment)
        if found is None:
            raise _no_segment(segment)
        return Target(found.type, found.collection, meta.type(found.type) is not None)

    def _cast(self, type_name: str, segment: str) -> str | None:
        if "." not in segment or "(" in segment:
            return None
        cast = self.meta.type(segment)
        if cast is None:
            return None
        if not self.meta.is_subtype(cast.name, type_name):
            return None
        return cast.name

    # --- properties ---------------------------------------------------------------------------------------

    def _prop(self, type_name: str, name: str, collection: bool) -> Prop:
        """A property of the type; on a directoryObject collection, of any directory object type (see above)."""
        meta = self.meta
        found = meta.prop(type_name, name)
        if found is not None:
            return found
        if collection and type_name.lower() == _DIRECTORY_OBJECT.lower():
            for sub in sorted(meta.descendants(type_name)):
                found = meta.prop(sub, name)
                if found is not None:
                    return found
        if meta.is_open(type_name) and (not self.strict_open or _EXTENSION.match(name)):
            # Graph answers an undeclared name on an open type (user, servicePrincipal, ...) without an error and
            # without the property: a client reading it gets nothing in production. The contract check says so.
            return Prop(name, "Edm.Untyped", False, False)
        raise _no_property(name, self._spelling(type_name))

    def _spelling(self, type_name: str) -> str:
        declared = self.meta.type(type_name)
        return declared.name if declared is not None else type_name

    def property_path(self, type_name: str, parts: Sequence[str], collection: bool = True) -> Prop | None:
        """Walk `a/b/c` from a type through complex and navigation properties (casts allowed); the last property."""
        current = type_name
        last: Prop | None = None
        for part in parts:
            if part.startswith("@") or part.startswith("$"):
                return last
            cast = self._cast(current, part)
            if cast is not None:
                current = cast
                continue
            if last is not None and self.meta.type(current) is None:
                raise _no_property(part, current)
            last = self._prop(current, part, collection)
            current = last.type
        return last

    # --- query options ------------------------------------------------------------------------------------

    def check_query(self, target: Target, query: Iterable[tuple[str, str]]) -> None:
        """Check $select, $expand, $orderby and $filter against where the path ends."""
        for name, value in query:
            key = name.lower()
            if key == "$select":
                self.check_select(target, value)
            elif key == "$expand":
                self.check_expand(target, value)
            elif key == "$orderby":
                self.check_orderby(target, value)
            elif key == "$filter":
                self.check_filter(target, value)

    def _needs_structure(self, target: Target, option: str) -> None:
        if not target.structured:
            raise ContractError(f"Query option '{option}' is not allowed on a value of type '{target.type}'.")

    def check_select(self, target: Target, value: str) -> None:
        """Every `$select` item is a property of the type (or `*`)."""
        self._needs_structure(target, "$select")
        for item in _split_top(value, ","):
            item = item.strip()
            if not item or item in _SELECT_ALL:
                continue
            with _prefixed(_SELECT_EXPAND_FAILED):
                self.property_path(target.type, item.split("/"), target.collection)

    def check_expand(self, target: Target, value: str) -> None:
        """Every `$expand` item is a navigation property; its nested `$select` is checked on the target type."""
        self._needs_structure(target, "$expand")
        for item in _split_top(value, ","):
            item = item.strip()
            if not item or item == "*":
                continue
            name, _, nested = item.partition("(")
            parts = [p for p in name.strip().split("/") if p]
            with _prefixed(_SELECT_EXPAND_FAILED):
                found = self.property_path(target.type, parts, target.collection)
            if found is None or not (found.navigation or self.meta.type(found.type) is not None
                                     and self.meta.type(found.type).kind == "complex"):  # type: ignore[union-attr]
                owner = self._owner(target.type, parts)
                raise ContractError(f"{_SELECT_EXPAND_FAILED}Property '{parts[-1]}' on type '{owner}' is not a "
                                    "navigation property or complex property. Only navigation properties can be "
                                    "expanded.")
            if nested:
                inner = Target(found.type, found.collection)
                for option, option_value in _EXPAND_OPTIONS.findall(nested.rstrip(")")):
                    self.check_query(inner, [(f"${option}", option_value)])

    def _owner(self, type_name: str, parts: Sequence[str]) -> str:
        current = type_name
        for part in parts[:-1]:
            found = self.property_path(current, [part])
            current = found.type if found is not None else current
        return self._spelling(current)

    def check_orderby(self, target: Target, value: str) -> None:
        """Every `$orderby` clause names a property path, optionally followed by asc/desc."""
        self._needs_structure(target, "$orderby")
        for clause in _split_top(value, ","):
            words = clause.split()
            if not words:
                continue
            self.property_path(target.type, words[0].split("/"), target.collection)

    def check_filter(self, target: Target, value: str) -> None:
        """Every property path in `$filter` exists; a lambda's variable stands for an element of its collection."""
        self._needs_structure(target, "$filter")
        parsed = parse_filter(value)
        with _prefixed(_FILTER_FAILED):
            self._check_node(parsed.root, target.type, {}, target.collection)

    def _check_node(self, node: Node, root: str, scope: Mapping[str, str], collection: bool) -> None:
        if isinstance(node, BoolOp):
            for item in node.items:
                self._check_node(item, root, scope, collection)
        elif isinstance(node, Not):
            self._check_node(node.item, root, scope, collection)
        elif isinstance(node, Compare):
            for operand in (node.left, node.right):
                if isinstance(operand, FilterPath):
                    self._filter_path(operand, root, scope, collection)
        elif isinstance(node, In):
            self._filter_path(node.left, root, scope, collection)
        elif isinstance(node, Call):
            self._filter_path(node.path, root, scope, collection)
        elif isinstance(node, Lambda):
            found = self._filter_path(node.path, root, scope, collection)
            if node.body is not None and node.var:
                element = found.type if found is not None else "Edm.Untyped"
                self._check_node(node.body, root, {**scope, node.var: element}, collection)

    def _filter_path(self, path: FilterPath, root: str, scope: Mapping[str, str], collection: bool) -> Prop | None:
        segments = path.segments
        if segments[0] in scope:
            start = scope[segments[0]]
            rest = segments[1:]
            if not rest or self.meta.type(start) is None:
                return None  # `t eq 'x'` over a collection of primitives, or an untyped element
            return self.property_path(start, rest, collection)
        return self.property_path(root, segments, collection)

    # --- whole requests -----------------------------------------------------------------------------------

    def resolve(self, segments: Sequence[str], query: Iterable[tuple[str, str]]) -> Target:
        """Resolve a path and its query options; raises ContractError (or ODataError for a malformed $filter)."""
        target = self.resolve_path(segments)
        self.check_query(target, query)
        return target

    # --- bodies -------------------------------------------------------------------------------------------

    def body_violations(self, type_name: str, value: Any, where: str = "") -> list[str]:
        """Properties in a served object (or list of objects) that its v1.0 type does not declare."""
        if isinstance(value, list):
            out: dict[str, None] = {}  # each problem once, however many objects repeat it
            for item in value:
                out.update(dict.fromkeys(self.body_violations(type_name, item, where)))
            return list(out)
        if not isinstance(value, Mapping):
            return []
        actual = type_name
        odata_type = value.get("@odata.type")
        if isinstance(odata_type, str) and odata_type.startswith("#"):
            named = self.meta.type(odata_type[1:])
            if named is None:
                return [f"{where}@odata.type: unknown type '{odata_type[1:]}'"]
            actual = named.name
        declared = self.meta.type(actual)
        if declared is None:
            return []
        # Open directory entity types carry directory extensions only; anything else undeclared is not v1.0.
        is_open = self.meta.is_open(actual)
        problems: list[str] = []
        for key, item in value.items():
            if "@" in key:
                continue  # instance annotations (@odata.type, @odata.context, prop@odata.type)
            found = self.meta.prop(actual, key)
            if found is None and is_open and (_EXTENSION.match(key) or declared.kind == "complex"):
                continue  # an open complex type (userIdentity, say) carries what Microsoft adds; see its examples
            if found is None:
                problems.append(f"{where}.{key}: not a property of {self._spelling(actual)}")
                continue
            if item is not None and self.meta.type(found.type) is not None:
                problems.extend(self.body_violations(found.type, item, f"{where}.{found.name}"))
        return problems


@contextmanager
def _prefixed(prefix: str) -> Iterator[None]:
    """Graph words a bad name by the option it is in: the same OData message behind a per-option prefix."""
    try:
        yield
    except ContractError as err:
        if err.message.startswith(prefix):
            raise
        raise ContractError(prefix + err.message, err.status, err.code) from None


def _split_top(value: str, sep: str) -> list[str]:
    """Split on `sep` outside parentheses (so `$expand=a($select=b,c),d` is two items)."""
    parts: list[str] = []
    depth = 0
    current: list[str] = []
    for char in value:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == sep and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


_resolver: Resolver | None = None
_resolver_lock = threading.Lock()


def resolver() -> Resolver:
    """The process-wide resolver over the vendored v1.0 metadata (loaded on first use)."""
    global _resolver
    if _resolver is None:
        with _resolver_lock:
            if _resolver is None:
                _resolver = Resolver()
    return _resolver


# --- the contract log ------------------------------------------------------------------------------------------

_log_lock = threading.Lock()


def contract_log_dir() -> Path | None:
    """The directory named by DEMO_TENANT_CONTRACT_LOG, when the contract log is on."""
    configured = os.environ.get(CONTRACT_LOG_ENV)
    return Path(configured) if configured else None


def record(method: str, segments: Sequence[str], query: Sequence[tuple[str, str]],
           body_problems: Sequence[str] = ()) -> None:
    """Append one Graph request to the contract log (no headers, bodies or tokens: only what the check needs)."""
    directory = contract_log_dir()
    if directory is None:
        return
    entry: dict[str, Any] = {"method": method, "segments": list(segments), "query": [list(p) for p in query]}
    test = os.environ.get("PYTEST_CURRENT_TEST")
    if test:
        entry["test"] = test.rsplit(" (", 1)[0]
    if body_problems:
        entry["body"] = list(body_problems)
    line = json.dumps(entry, separators=(",", ":")) + "\n"
    try:
        with _log_lock:
            directory.mkdir(parents=True, exist_ok=True)
            with (directory / f"graph-{os.getpid()}.jsonl").open("a", encoding="utf-8") as fh:
                fh.write(line)
    except OSError as err:
        log.warning("could not write the Graph contract log in %s: %s", directory, err)


@dataclass(frozen=True)
class Violation:
    """One logged request that does not hold to the contract."""

    method: str
    path: str
    query: str
    reason: str
    test: str | None


def check_logs(directory: Path, exempt: Iterable[str] = ()) -> list[Violation]:
    """Re-resolve every logged Graph request (and report every logged body problem) offline."""
    skip = set(exempt)
    found: list[Violation] = []
    seen: set[str] = set()
    # Offline the check is stricter than Graph on open types: a name Graph silently drops is a client bug too.
    check = Resolver(resolver().meta, strict_open=True)
    for file in sorted(directory.glob("graph-*.jsonl")):
        for line in file.read_text(encoding="utf-8").splitlines():
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut short by a killed subprocess
            test = entry.get("test")
            if test in skip:
                continue
            segments = [str(s) for s in entry.get("segments", [])]
            query = [(str(k), str(v)) for k, v in entry.get("query", [])]
            method = str(entry.get("method", "GET"))
            path = "/v1.0/" + "/".join(segments)
            text = "&".join(f"{k}={v}" for k, v in query)
            reasons = [f"served body: {p}" for p in entry.get("body", [])]
            if segments and segments[0].lower() not in ("$batch", "$metadata"):
                try:
                    check.resolve(segments, query)
                except (ContractError, ODataError) as err:
                    reasons.insert(0, err.message)
            for reason in reasons:
                key = f"{method} {path}?{text} {reason}"
                if key not in seen:
                    seen.add(key)
                    found.append(Violation(method, path, text, reason, test))
    return found
