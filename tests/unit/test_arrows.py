"""The arrows between the rooms point one way: parsed from the imports (ast) of every product module.

`teams → dialogs → core → (investigation, remediation) → m365`; `cards` is pure on records; only the Teams
edge (`teams/`, `dialogs/`, `bot.py`) touches the bot SDK; nothing imports the composition root `bot`. Every
import counts, also one inside a function or under `TYPE_CHECKING`: an arrow is an arrow. The tests and the
benches are not product code and may import anything.
"""

from __future__ import annotations

import ast
import functools
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOT_PRODUCT = frozenset({"tests", "bench"})
SDK = frozenset({"microsoft_agents"})  # the Microsoft 365 Agents SDK (botbuilder before issue 14)
SDK_EDGE = frozenset({"teams", "dialogs", "bot"})


@dataclass(frozen=True)
class Import:
    """One import statement's target, as seen from the module that has it."""

    module: str  # dotted name of the importing module, e.g. `cards.findings`
    path: str  # its file, relative to the repository
    line: int
    target: str  # dotted name imported, e.g. `m365.records`

    @property
    def room(self) -> str:
        """The importing module's top-level package (or module, for `bot.py`, `config.py` …)."""
        return self.module.split(".")[0]

    @property
    def target_room(self) -> str:
        """The imported name's top-level package or module."""
        return self.target.split(".")[0]

    def __str__(self) -> str:
        return f"{self.path}:{self.line} imports {self.target}"


def _packages() -> list[str]:
    return sorted(p.parent.name for p in ROOT.glob("*/__init__.py") if p.parent.name not in NOT_PRODUCT)


def _product_files() -> Iterator[Path]:
    yield from sorted(ROOT.glob("*.py"))
    for package in _packages():
        yield from sorted((ROOT / package).rglob("*.py"))


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports_of(path: Path) -> Iterator[Import]:
    module = _module_name(path)
    is_package = path.name == "__init__.py"
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    rel = str(path.relative_to(ROOT))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(module, rel, node.lineno, alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                # Relative: resolved against the importing module's package.
                base = module.split(".")
                base = base if is_package else base[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            yield Import(module, rel, node.lineno, target)


@functools.cache
def all_imports() -> tuple[Import, ...]:
    """Every import of every product module (cached: the rules below share one parse)."""
    return tuple(imp for path in _product_files() for imp in _imports_of(path))


@functools.cache
def project_rooms() -> frozenset[str]:
    """The project's own top-level names: its packages and top-level modules, tests and benches included."""
    return frozenset({*(p.parent.name for p in ROOT.glob("*/__init__.py")), *(p.stem for p in ROOT.glob("*.py"))})


def _offending(rule: str) -> list[Import]:
    own = project_rooms()
    imports = all_imports()
    if rule == "only the Teams edge imports the bot SDK":
        return [i for i in imports if i.target_room in SDK and i.room not in SDK_EDGE]
    if rule == "nothing imports bot":
        return [i for i in imports if i.target_room == "bot"]
    if rule == "store imports no config":
        return [i for i in imports if i.room == "store" and i.target_room == "config"]
    if rule == "cards import no m365":
        return [i for i in imports if i.room == "cards" and i.target_room == "m365"]
    if rule == "m365 and demo_tenant import nothing else of the project":
        return [i for i in imports if i.room in {"m365", "demo_tenant"} and i.target_room in own
                and i.target_room != i.room]
    if rule == "core imports no teams or dialogs":
        return [i for i in imports if i.room == "core" and i.target_room in {"teams", "dialogs"}]
    if rule == "investigation and remediation import no teams, dialogs or core":
        return [i for i in imports if i.room in {"investigation", "remediation"}
                and i.target_room in {"teams", "dialogs", "core"}]
    if rule == "incident imports only store, investigation, remediation, cards, locales, domain (config: CLI)":
        allowed = {"incident", "store", "investigation", "remediation", "cards", "locales", "domain"}
        return [i for i in imports if i.room == "incident" and i.target_room in own and i.target_room not in allowed
                and not (i.module == "incident.__main__" and i.target_room == "config")]
    raise AssertionError(f"unknown rule {rule!r}")


RULES = [
    "only the Teams edge imports the bot SDK",
    "nothing imports bot",
    "store imports no config",
    "cards import no m365",
    "m365 and demo_tenant import nothing else of the project",
    "core imports no teams or dialogs",
    "investigation and remediation import no teams, dialogs or core",
    "incident imports only store, investigation, remediation, cards, locales, domain (config: CLI)",
]


@pytest.mark.parametrize("rule", RULES)
def test_arrows_point_one_way(rule: str) -> None:
    offending = _offending(rule)
    assert not offending, f"{rule}:\n" + "\n".join(f"  {i}" for i in offending)


def test_the_scan_sees_the_product_and_its_imports() -> None:
    """The rules above pass vacuously if the scan finds nothing: prove it finds what is certainly there."""
    imports = all_imports()
    rooms = {i.room for i in imports}
    assert {"bot", "cards", "investigation", "m365", "remediation", "store", "teams", "tools"} <= rooms
    assert not rooms & NOT_PRODUCT
    assert any(i.room == "teams" and i.target_room == "microsoft_agents" for i in imports)
    assert any(i.module == "bot" and i.target_room == "teams" for i in imports)
    # Imports inside functions count too: the demo tenant is imported only where demo mode starts it.
    assert any(i.module == "tenancy" and i.target == "demo_tenant" for i in imports)


def test_relative_imports_are_resolved(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A relative import is judged by what it names, so `from ..teams import x` in core/ cannot slip through."""
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    (tmp_path / "core" / "sub").mkdir(parents=True)
    (tmp_path / "core" / "__init__.py").write_text("")
    (tmp_path / "core" / "sub" / "__init__.py").write_text("from . import a\n")
    (tmp_path / "core" / "sub" / "a.py").write_text("from ...teams import handler\nfrom ..ports import Outbox\n")
    targets = {i.target for path in _product_files() for i in _imports_of(path)}
    assert targets == {"core.sub", "teams", "core.ports"}
