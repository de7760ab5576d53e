"""Build the Teams app package `build/appPackage.zip` from `manifest/` and the settings (`make package`).

    .venv/bin/python -m tools.package_app [--out build] [--strict] [--app-version 1.2.3]

1. Reads `manifest/manifest.json` (a template that is itself a valid manifest, with placeholder ids) and fills
   in, from `config.Settings` (environment variables over `.env`):
   - `id`, `bots[0].botId` and `webApplicationInfo.id`: `CONNECTIONS__SERVICE_CONNECTION__SETTINGS__CLIENTID`
     (formerly `MicrosoftAppId`), the Azure Bot's app registration;
   - `webApplicationInfo.resource`: `api://botid-<app id>`, the form Microsoft documents for a bot;
   - `validDomains`: `PUBLIC_HOSTNAME`, the host of the messaging endpoint;
   - `version`: the project's version from `pyproject.toml` (or `--app-version`).
2. Stages the manifest, its language files (`localizationInfo`) and the two icons in `build/appPackage/`,
   checks the icons (192x192 colour; 32x32 outline with only white and transparent pixels) and the language
   files' keys, and validates the folder OFFLINE with `tools/validate_manifest.js`: the JSON schemas bundled in
   the npm package `@microsoft/app-manifest` (installed by `npm ci` from package-lock.json).
3. Writes `build/appPackage.zip` with every file at the root of the archive (what Teams requires),
   byte-for-byte reproducible (fixed timestamps and order).

Placeholders left in the package (no app id, no `PUBLIC_HOSTNAME`, the example.com developer URLs)
are listed as warnings; `--strict` turns them into an error, for a package meant for a real tenant.
"""

from __future__ import annotations

import argparse
import copy
import json
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from config import CLIENT_ID_ENV, Settings, SettingsError
from tools.png import COLOR_TYPE_RGBA, PngError, read_png_file

ROOT = Path(__file__).resolve().parent.parent
MANIFEST_DIR = ROOT / "manifest"
BUILD_DIR = ROOT / "build"
VALIDATOR = ROOT / "tools" / "validate_manifest.js"
NODE_PACKAGES = ("@microsoft/app-manifest", "fs-extra")
PLACEHOLDER_ID = "00000000-0000-0000-0000-000000000000"
PLACEHOLDER_HOST = "bot.example.com"
ICON_SIZES = {"color": 192, "outline": 32}
# A fixed timestamp for every archive entry, so the same inputs give the same bytes.
_ZIP_TIME = (2020, 1, 1, 0, 0, 0)
# Keys of a language file that point into arrays of the manifest: `bots[0].commandLists[1].commands[2].title`.
_INDEXED_KEY = re.compile(r"^(?P<path>(?:[A-Za-z]+(?:\[\d+\])?\.)*[A-Za-z]+(?:\[\d+\])?)\.(?P<field>[A-Za-z]+)$")
_SEGMENT = re.compile(r"^(?P<name>[A-Za-z]+)(?:\[(?P<index>\d+)\])?$")


class PackagingError(Exception):
    """The package cannot be built: a missing tool, an invalid manifest or icon."""


@dataclass(frozen=True)
class Validation:
    """What `tools/validate_manifest.js` checked."""

    manifest_version: str
    validator_package: str  # e.g. "@microsoft/app-manifest 1.1.2"
    schema_dir: str
    checked: tuple[str, ...]


@dataclass(frozen=True)
class AppPackage:
    """A built package."""

    path: Path
    manifest: dict[str, Any]
    files: tuple[str, ...]
    placeholders: tuple[str, ...]
    validation: Validation


def project_version() -> str:
    """The version in pyproject.toml ([project] version)."""
    with (ROOT / "pyproject.toml").open("rb") as fh:
        return str(tomllib.load(fh)["project"]["version"])


def fill_manifest(template: dict[str, Any], settings: Settings, *, version: str) -> tuple[dict[str, Any], list[str]]:
    """The template with ids, domain and version from `settings`; and the placeholders still in it."""
    manifest = copy.deepcopy(template)
    placeholders: list[str] = []
    app_id = settings.app_id.lower() or PLACEHOLDER_ID
    if not settings.app_id:
        placeholders.append(f"{CLIENT_ID_ENV} (MicrosoftAppId) is empty: the app and bot id are the placeholder "
                            f"{PLACEHOLDER_ID}")
    host = settings.public_hostname or PLACEHOLDER_HOST
    if not settings.public_hostname:
        placeholders.append(f"PUBLIC_HOSTNAME is empty: validDomains holds the placeholder {PLACEHOLDER_HOST}")
    manifest["version"] = version
    manifest["id"] = app_id
    bots = manifest.get("bots") or []
    if len(bots) != 1:
        raise PackagingError("manifest/manifest.json must declare exactly one bot")
    bots[0]["botId"] = app_id
    manifest["webApplicationInfo"] = {"id": app_id, "resource": f"api://botid-{app_id}"}
    manifest["validDomains"] = [host]
    developer = manifest.get("developer", {})
    for key in ("websiteUrl", "privacyUrl", "termsOfUseUrl"):
        url = str(developer.get(key, ""))
        if re.match(r"^https?://(?:[^/]*\.)?example\.(?:com|org|net)(?:[/:]|$)", url):
            placeholders.append(f"developer.{key} is the placeholder {url}: edit manifest/manifest.json")
    if developer.get("name") == "Contoso IT":
        placeholders.append("developer.name is the placeholder 'Contoso IT': edit manifest/manifest.json")
    return manifest, placeholders


def package_files(manifest: dict[str, Any]) -> list[str]:
    """The files the package holds besides manifest.json: icons and language files, as the manifest names them."""
    icons = manifest.get("icons", {})
    names = [str(icons[kind]) for kind in ICON_SIZES if kind in icons]
    info = manifest.get("localizationInfo", {})
    if info.get("defaultLanguageFile"):
        names.append(str(info["defaultLanguageFile"]))
    names.extend(str(lang["file"]) for lang in info.get("additionalLanguages", []))
    for name in names:
        if "/" in name or "\\" in name or name.startswith("."):
            raise PackagingError(f"{name}: package files must sit at the root of the package, beside manifest.json")
    return names


def check_icons(manifest: dict[str, Any], folder: Path) -> None:
    """Teams' icon rules: colour 192x192; outline 32x32 with alpha, only white or fully transparent pixels."""
    icons = manifest.get("icons", {})
    for kind, size in ICON_SIZES.items():
        if kind not in icons:
            raise PackagingError(f"manifest.json names no {kind} icon")
        path = folder / str(icons[kind])
        try:
            image = read_png_file(path)
        except (OSError, PngError) as exc:
            raise PackagingError(f"{path.name}: not a readable PNG ({exc})") from exc
        header = image.header
        if (header.width, header.height) != (size, size):
            raise PackagingError(f"{path.name}: the {kind} icon must be {size}x{size}, "
                                 f"not {header.width}x{header.height}")
        if kind == "outline":
            if header.color_type != COLOR_TYPE_RGBA:
                raise PackagingError(f"{path.name}: the outline icon needs a transparent background (RGBA)")
            pixels = image.all_pixels()
            coloured = [p for p in pixels if p[3] and p[:3] != (255, 255, 255)]
            if coloured:
                raise PackagingError(f"{path.name}: the outline icon may only hold white or transparent pixels "
                                     f"({len(coloured)} are neither)")
            if not any(p[3] == 0 for p in pixels) or not any(p[3] == 255 for p in pixels):
                raise PackagingError(f"{path.name}: the outline icon must be a white shape on a transparent background")


def _resolve(manifest: dict[str, Any], path: str) -> object:
    """The manifest value at a language-file path such as `bots[0].commandLists[1].commands[2]`, or None."""
    node: object = manifest
    for segment in path.split("."):
        match = _SEGMENT.match(segment)
        if not match or not isinstance(node, dict) or match["name"] not in node:
            return None
        node = node[match["name"]]
        if match["index"] is not None:
            index = int(match["index"])
            if not isinstance(node, list) or index >= len(node):
                return None
            node = node[index]
    return node


def check_language_file(manifest: dict[str, Any], name: str, strings: dict[str, Any]) -> None:
    """Every translated string must translate something the manifest has (a command, a feature)."""
    for key in strings:
        if key.startswith("$") or "[" not in key:
            continue
        match = _INDEXED_KEY.match(key)
        target = _resolve(manifest, match["path"]) if match else None
        if not isinstance(target, dict) or match is None or match["field"] not in target:
            raise PackagingError(f"{name}: {key!r} translates nothing in manifest.json")


def check_node() -> str:
    """The `node` executable, with the validator's npm packages installed; PackagingError says what is missing."""
    node = shutil.which("node")
    if node is None:
        raise PackagingError(
            "node is not on PATH: install Node.js 20 (the manifest is validated offline with the npm package "
            "@microsoft/app-manifest), then run `make package`"
        )
    missing = [name for name in NODE_PACKAGES if not (ROOT / "node_modules" / name / "package.json").is_file()]
    if missing:
        raise PackagingError(f"npm packages missing from node_modules: {', '.join(missing)}; run `npm ci` "
                             "(`make package` does it from package-lock.json)")
    return node


def validate(folder: Path) -> Validation:
    """Run tools/validate_manifest.js on a staged package folder; PackagingError lists every schema error."""
    node = check_node()
    try:
        proc = subprocess.run([node, str(VALIDATOR), str(folder)], cwd=ROOT, capture_output=True, text=True,
                              timeout=120, check=False)
    except subprocess.TimeoutExpired as exc:
        raise PackagingError("the manifest validator did not finish within 120 s") from exc
    try:
        result = json.loads(proc.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError) as exc:
        raise PackagingError(f"the manifest validator failed (exit {proc.returncode}): "
                             f"{(proc.stderr or proc.stdout).strip()[:2000]}") from exc
    errors = [str(e) for e in result.get("errors", [])]
    if proc.returncode != 0 or errors:
        raise PackagingError("the app package is not valid:\n  " + "\n  ".join(errors or [f"exit {proc.returncode}"]))
    package = result["package"]
    return Validation(
        manifest_version=str(result["manifestVersion"]),
        validator_package=f"{package['name']} {package['version']}",
        schema_dir=str(result["schemaDir"]),
        checked=tuple(str(item["file"]) for item in result["checked"]),
    )


def write_zip(folder: Path, names: list[str], target: Path) -> None:
    """A reproducible zip of `names` from `folder`, each at the archive's root; written atomically."""
    partial = target.with_name(target.name + ".partial")
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in names:
            info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, (folder / name).read_bytes())
    partial.replace(target)


def build(
    settings: Settings,
    *,
    out_dir: Path = BUILD_DIR,
    manifest_dir: Path = MANIFEST_DIR,
    version: str | None = None,
    strict: bool = False,
) -> AppPackage:
    """Fill, stage, check, validate and zip the package (see the module docstring)."""
    try:
        template = json.loads((manifest_dir / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise PackagingError(f"cannot read {manifest_dir / 'manifest.json'}: {exc}") from exc
    manifest, placeholders = fill_manifest(template, settings, version=version or project_version())
    if strict and placeholders:
        raise PackagingError("placeholders left in the package (--strict):\n  " + "\n  ".join(placeholders))
    extra = package_files(manifest)
    stage = out_dir / "appPackage"
    if stage.exists():
        shutil.rmtree(stage)
    stage.mkdir(parents=True)
    (stage / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    for name in extra:
        source = manifest_dir / name
        if not source.is_file():
            raise PackagingError(f"manifest.json names {name}, but {source} does not exist")
        shutil.copyfile(source, stage / name)
        if name.endswith(".json"):
            check_language_file(manifest, name, json.loads(source.read_text(encoding="utf-8")))
    check_icons(manifest, stage)
    validation = validate(stage)
    names = ["manifest.json", *extra]
    target = out_dir / "appPackage.zip"
    write_zip(stage, names, target)
    return AppPackage(target, manifest, tuple(names), tuple(placeholders), validation)


def main(argv: list[str] | None = None) -> int:
    """`make package`: build the package from the environment's settings; 0 on success."""
    parser = argparse.ArgumentParser(description="Build and validate the Teams app package (build/appPackage.zip).")
    parser.add_argument("--out", type=Path, default=BUILD_DIR, help="output directory (default: build/)")
    parser.add_argument("--app-version", help="the manifest's version (default: the version in pyproject.toml)")
    parser.add_argument("--strict", action="store_true", help="fail when placeholders are left in the package")
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    if settings.deprecation_notice():
        print(f"package: {settings.deprecation_notice()}", file=sys.stderr)
    try:
        package = build(settings, out_dir=args.out, version=args.app_version, strict=args.strict)
    except PackagingError as exc:
        print(f"package: {exc}", file=sys.stderr)
        return 1
    v = package.validation
    print(f"package: manifest {v.manifest_version} valid against {v.schema_dir} ({v.validator_package}); "
          f"checked {', '.join(v.checked)}")
    print(f"package: wrote {package.path} ({', '.join(package.files)}), app id {package.manifest['id']}, "
          f"version {package.manifest['version']}")
    for line in package.placeholders:
        print(f"package: warning: {line}", file=sys.stderr)
    if package.placeholders:
        print("package: warning: fill these in before uploading the package to Teams (docs/DEPLOY.md); "
              "`python -m tools.package_app --strict` refuses to build with placeholders", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
