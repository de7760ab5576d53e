"""Microsoft Graph v1.0 metadata (CSDL): a typed index of what `https://graph.microsoft.com/v1.0/$metadata` declares.

The document is Microsoft's own (`demo_tenant/metadata/v1.0-Prod.csdl`, source commit in the README beside it). It is
parsed once per process, lazily, with the standard library, and the index is cached under the data directory keyed
by the document's sha256, because parsing 3 MB of XML costs more than the demo tenant's whole start otherwise.

Names are looked up ignoring case, as Graph does for path segments and query options; what is returned keeps
Microsoft's spelling.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

METADATA_PATH = Path(__file__).resolve().parent / "metadata" / "v1.0-Prod.csdl"
# Where the parsed index is cached (never committed: data/ is ignored). Overridable for read-only installs.
CACHE_DIR_ENV = "DEMO_TENANT_CSDL_CACHE"
_DEFAULT_CACHE_DIR = Path(__file__).resolve().parent.parent / "data" / "csdl"
_EDM = "{http://docs.oasis-open.org/odata/ns/edm}"
_INDEX_VERSION = 1


@dataclass(frozen=True)
class Prop:
    """A structural or navigation property as declared (type fully qualified, `Collection(...)` unwrapped)."""

    name: str
    type: str
    collection: bool
    navigation: bool
    contains_target: bool = False


@dataclass(frozen=True)
class StructuredType:
    """An entity or complex type with its own (not inherited) properties, keyed by lower-case name."""

    name: str  # fully qualified, e.g. microsoft.graph.mailFolder
    kind: str  # "entity" or "complex"
    base: str | None
    abstract: bool
    open: bool
    properties: dict[str, Prop] = field(default_factory=dict)


@dataclass(frozen=True)
class Operation:
    """A bound function or action: what it binds to and what it returns (None for an action without a result)."""

    name: str  # fully qualified, e.g. microsoft.graph.delta
    kind: str  # "function" or "action"
    binding_type: str
    binding_collection: bool
    returns: str | None
    returns_collection: bool


@dataclass
class Metadata:
    """The index: entity sets, singletons, types, enums, bound operations and the derived-type tree."""

    sha256: str
    entity_sets: dict[str, str] = field(default_factory=dict)  # lower name -> entity type
    singletons: dict[str, str] = field(default_factory=dict)  # lower name -> entity type
    set_names: dict[str, str] = field(default_factory=dict)  # lower name -> Microsoft's spelling
    types: dict[str, StructuredType] = field(default_factory=dict)  # lower qualified name -> type
    enums: dict[str, str] = field(default_factory=dict)  # lower qualified name -> qualified name
    derived: dict[str, set[str]] = field(default_factory=dict)  # lower qualified base -> lower direct subtypes
    operations: dict[str, list[Operation]] = field(default_factory=dict)  # lower short name -> overloads

    # --- types ---------------------------------------------------------------------------------------------

    def type(self, name: str) -> StructuredType | None:
        """The entity or complex type named `name` (fully qualified, any case)."""
        return self.types.get(name.lower())

    def lineage(self, name: str) -> list[StructuredType]:
        """The type and its base types, most derived first."""
        chain: list[StructuredType] = []
        current = self.type(name)
        while current is not None and len(chain) < 32:
            chain.append(current)
            current = self.type(current.base) if current.base else None
        return chain

    def prop(self, type_name: str, prop_name: str) -> Prop | None:
        """A property declared on the type or inherited from a base type."""
        key = prop_name.lower()
        for declared in self.lineage(type_name):
            found = declared.properties.get(key)
            if found is not None:
                return found
        return None

    def properties(self, type_name: str) -> dict[str, Prop]:
        """Every property of the type, inherited ones included, keyed by lower-case name."""
        merged: dict[str, Prop] = {}
        for declared in reversed(self.lineage(type_name)):
            merged.update(declared.properties)
        return merged

    def is_subtype(self, name: str, base: str) -> bool:
        """True when `name` is `base` or derives from it."""
        wanted = base.lower()
        return any(t.name.lower() == wanted for t in self.lineage(name))

    def is_open(self, type_name: str) -> bool:
        """Open types accept undeclared (dynamic) properties."""
        return any(t.open for t in self.lineage(type_name))

    def descendants(self, name: str) -> set[str]:
        """Every type deriving from `name` (lower-case qualified names), not `name` itself."""
        out: set[str] = set()
        stack = [name.lower()]
        while stack:
            for sub in self.derived.get(stack.pop(), ()):
                if sub not in out:
                    out.add(sub)
                    stack.append(sub)
        return out

    # --- operations ----------------------------------------------------------------------------------------

    def bound_operation(self, segment: str, type_name: str, collection: bool) -> Operation | None:
        """The function or action `segment` (qualified or not) bound to the type (or a base type) as given."""
        name = segment.split("(", 1)[0]
        short = name.rsplit(".", 1)[-1].lower()
        qualified = name.lower() if "." in name else None
        candidates = [op for op in self.operations.get(short, ())
                      if op.binding_collection == collection and (qualified is None or op.name.lower() == qualified)]
        # The overload bound to the most derived type wins (users/delta is user's, not directoryObject's).
        for declared in self.lineage(type_name):
            for op in candidates:
                if op.binding_type.lower() == declared.name.lower():
                    return op
        return None


def _qualify(raw: str, aliases: dict[str, str]) -> tuple[str, bool]:
    """`Collection(graph.user)` -> (`microsoft.graph.user`, True); aliases replaced by their namespace."""
    collection = raw.startswith("Collection(") and raw.endswith(")")
    name = raw[len("Collection("):-1] if collection else raw
    namespace, _, short = name.rpartition(".")
    return f"{aliases.get(namespace, namespace)}.{short}" if namespace else name, collection


def parse(document: bytes) -> Metadata:
    """Build the index from a CSDL document."""
    root = ET.fromstring(document)
    meta = Metadata(sha256=hashlib.sha256(document).hexdigest())
    schemas = list(root.iter(f"{_EDM}Schema"))
    aliases: dict[str, str] = {}
    for schema in schemas:
        namespace = schema.get("Namespace", "")
        aliases[namespace] = namespace
        if schema.get("Alias"):
            aliases[schema.get("Alias", "")] = namespace
    for schema in schemas:
        namespace = schema.get("Namespace", "")
        for element in schema:
            tag = element.tag.removeprefix(_EDM)
            name = element.get("Name", "")
            qualified = f"{namespace}.{name}"
            if tag in ("EntityType", "ComplexType"):
                base = element.get("BaseType")
                declared = StructuredType(
                    name=qualified, kind="entity" if tag == "EntityType" else "complex",
                    base=_qualify(base, aliases)[0] if base else None,
                    abstract=element.get("Abstract") == "true", open=element.get("OpenType") == "true",
                )
                for child in element:
                    child_tag = child.tag.removeprefix(_EDM)
                    if child_tag not in ("Property", "NavigationProperty"):
                        continue
                    type_name, collection = _qualify(child.get("Type", ""), aliases)
                    prop_name = child.get("Name", "")
                    declared.properties[prop_name.lower()] = Prop(
                        prop_name, type_name, collection, child_tag == "NavigationProperty",
                        child.get("ContainsTarget") == "true")
                meta.types[qualified.lower()] = declared
                if declared.base:
                    meta.derived.setdefault(declared.base.lower(), set()).add(qualified.lower())
            elif tag == "EnumType":
                meta.enums[qualified.lower()] = qualified
            elif tag in ("Function", "Action") and element.get("IsBound") == "true":
                params = element.findall(f"{_EDM}Parameter")
                if not params:
                    continue
                binding, binding_collection = _qualify(params[0].get("Type", ""), aliases)
                returns_el = element.find(f"{_EDM}ReturnType")
                returns, returns_collection = (_qualify(returns_el.get("Type", ""), aliases)
                                               if returns_el is not None else (None, False))
                meta.operations.setdefault(name.lower(), []).append(Operation(
                    qualified, "function" if tag == "Function" else "action", binding, binding_collection,
                    returns, returns_collection))
            elif tag == "EntityContainer":
                for item in element:
                    item_tag = item.tag.removeprefix(_EDM)
                    item_name = item.get("Name", "")
                    if item_tag == "EntitySet":
                        meta.entity_sets[item_name.lower()] = _qualify(item.get("EntityType", ""), aliases)[0]
                        meta.set_names[item_name.lower()] = item_name
                    elif item_tag == "Singleton":
                        meta.singletons[item_name.lower()] = _qualify(item.get("Type", ""), aliases)[0]
                        meta.set_names[item_name.lower()] = item_name
    return meta


def _cache_dir() -> Path:
    configured = os.environ.get(CACHE_DIR_ENV)
    return Path(configured) if configured else _DEFAULT_CACHE_DIR


def _load_cached(document: bytes, digest: str) -> Metadata | None:
    path = _cache_dir() / f"v1.0-{digest[:16]}-{_INDEX_VERSION}.pickle"
    try:
        with path.open("rb") as fh:
            # The cache is our own file under data/, written by `_store_cached` below from Microsoft's document.
            cached = pickle.load(fh)  # noqa: S301
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError):
        return None
    if isinstance(cached, Metadata) and cached.sha256 == digest:
        return cached
    return None


def _store_cached(meta: Metadata) -> None:
    directory = _cache_dir()
    path = directory / f"v1.0-{meta.sha256[:16]}-{_INDEX_VERSION}.pickle"
    try:
        directory.mkdir(parents=True, exist_ok=True)
        # Write then rename, so a concurrent reader (a bot subprocess, say) never sees half a file.
        fd, tmp = tempfile.mkstemp(dir=directory, suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            pickle.dump(meta, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
    except OSError as err:
        log.info("could not cache the Graph metadata index in %s: %s", directory, err)


_lock = threading.Lock()
_loaded: Metadata | None = None


def load(path: Path = METADATA_PATH) -> Metadata:
    """The Graph v1.0 metadata, parsed on first use and kept for the life of the process."""
    global _loaded
    if _loaded is not None and path == METADATA_PATH:
        return _loaded
    with _lock:
        if _loaded is not None and path == METADATA_PATH:
            return _loaded
        started = time.perf_counter()
        document = path.read_bytes()
        digest = hashlib.sha256(document).hexdigest()
        meta = _load_cached(document, digest)
        source = "cache"
        if meta is None:
            meta = parse(document)
            source = "csdl"
            _store_cached(meta)
        log.debug("Graph v1.0 metadata loaded from %s in %.0f ms", source, (time.perf_counter() - started) * 1000)
        if path == METADATA_PATH:
            _loaded = meta
        return meta
