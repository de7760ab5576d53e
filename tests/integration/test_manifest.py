"""The Teams app package: `make package` (tools/package_app.py) fills, validates and zips `manifest/`.

Validation runs the real validator (`node tools/validate_manifest.js`, the schemas bundled in npm
`@microsoft/app-manifest`). Without node or node_modules these tests FAIL with a message saying what to
install: CI has node, and a package nobody validated must not look green.
"""

from __future__ import annotations

import io
import json
import shutil
import zipfile
from pathlib import Path
from typing import Any

import pytest

from config import Settings
from dialogs.intents import Intent, recognize
from tools import make_icons, package_app
from tools.package_app import PLACEHOLDER_ID, PackagingError, build, check_language_file
from tools.png import COLOR_TYPE_RGBA, Pixel, encode_png, read_header, read_png, read_png_file

APP_ID = "11111111-2222-4333-8444-555555555555"
HOST = "blocked-sender.contoso.com"
MANIFEST_DIR = package_app.MANIFEST_DIR
PACKAGE_FILES = ["manifest.json", "color.png", "outline.png", "nl.json"]


def _settings() -> Settings:
    return Settings(app_id=APP_ID, app_password="pw", public_hostname=HOST)


def _manifest_copy(tmp_path: Path) -> Path:
    folder = tmp_path / "manifest"
    shutil.copytree(MANIFEST_DIR, folder)
    return folder


def _edit_json(path: Path, change: Any) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False), encoding="utf-8")


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> package_app.AppPackage:
    return build(_settings(), out_dir=tmp_path_factory.mktemp("build"))


def test_package_is_a_zip_with_every_file_at_its_root(package: package_app.AppPackage) -> None:
    assert package.path.name == "appPackage.zip"
    with zipfile.ZipFile(package.path) as archive:
        assert archive.namelist() == PACKAGE_FILES
        assert archive.testzip() is None
        manifest = json.loads(archive.read("manifest.json"))
        nl = json.loads(archive.read("nl.json"))
    assert manifest == package.manifest
    assert nl == json.loads((MANIFEST_DIR / "nl.json").read_text(encoding="utf-8"))


def test_validated_offline_against_the_bundled_v1_30_schema(package: package_app.AppPackage) -> None:
    validation = package.validation
    assert validation.manifest_version == "1.30"
    assert validation.validator_package.startswith("@microsoft/app-manifest ")
    assert validation.schema_dir == "node_modules/@microsoft/app-manifest/build/json-schemas/teams/v1.30"
    assert validation.checked == ("manifest.json", "nl.json")
    assert package.manifest["$schema"].endswith("/teams/v1.30/MicrosoftTeams.schema.json")


def test_ids_domain_and_version_come_from_the_settings(package: package_app.AppPackage) -> None:
    manifest = package.manifest
    assert manifest["id"] == APP_ID
    assert manifest["bots"][0]["botId"] == APP_ID
    assert manifest["webApplicationInfo"] == {"id": APP_ID, "resource": f"api://botid-{APP_ID}"}
    assert manifest["validDomains"] == [HOST]
    assert manifest["version"] == package_app.project_version()
    # Only the developer details (edited in manifest/manifest.json by whoever deploys) remain placeholders.
    assert package.placeholders and all(p.startswith("developer.") for p in package.placeholders)


def test_bot_scopes_and_command_lists(package: package_app.AppPackage) -> None:
    bot = package.manifest["bots"][0]
    assert set(bot["scopes"]) == {"personal", "team", "groupChat"}
    # Files: "Export report" hands the incident report over with Teams' file consent flow (teams/files.py).
    assert bot["supportsFiles"] is True and bot["isNotificationOnly"] is False
    commands = {tuple(cl["scopes"]): [c["title"] for c in cl["commands"]] for cl in bot["commandLists"]}
    assert commands[("personal",)] == ["investigate", "status", "triage", "help"]
    assert commands[("team",)] == ["investigate", "alerts here", "triage", "help"]
    assert commands[("groupChat",)] == ["investigate", "help"]


def test_icons_have_teams_sizes_and_a_transparent_white_outline(package: package_app.AppPackage) -> None:
    with zipfile.ZipFile(package.path) as archive:
        color, outline = archive.read("color.png"), archive.read("outline.png")
    assert (read_header(color).width, read_header(color).height) == (192, 192)
    header = read_header(outline)
    assert (header.width, header.height) == (32, 32)
    assert header.color_type == COLOR_TYPE_RGBA and header.has_alpha
    pixels = read_png(outline).all_pixels()
    assert all(p[3] == 0 or p[:3] == (255, 255, 255) for p in pixels)
    assert any(p[3] == 0 for p in pixels) and any(p[3] == 255 for p in pixels)


def test_package_is_reproducible(package: package_app.AppPackage, tmp_path: Path) -> None:
    again = build(_settings(), out_dir=tmp_path)
    assert again.path.read_bytes() == package.path.read_bytes()


def test_without_settings_the_package_carries_named_placeholders(tmp_path: Path) -> None:
    package = build(Settings(), out_dir=tmp_path)
    assert package.manifest["id"] == PLACEHOLDER_ID
    assert package.manifest["validDomains"] == [package_app.PLACEHOLDER_HOST]
    assert any("CONNECTIONS__SERVICE_CONNECTION__SETTINGS__CLIENTID (MicrosoftAppId) is empty" in p
               for p in package.placeholders)
    assert any("PUBLIC_HOSTNAME is empty" in p for p in package.placeholders)
    with pytest.raises(PackagingError, match="placeholders left in the package"):
        build(Settings(), out_dir=tmp_path, strict=True)


def test_strict_build_passes_once_everything_is_filled_in(tmp_path: Path) -> None:
    folder = _manifest_copy(tmp_path)

    def developer(m: dict[str, Any]) -> None:
        m["developer"] = {"name": "Fabrikam IT", "websiteUrl": "https://it.fabrikam.com/bot",
                          "privacyUrl": "https://it.fabrikam.com/privacy", "termsOfUseUrl": "https://it.fabrikam.com/terms"}

    _edit_json(folder / "manifest.json", developer)
    package = build(_settings(), out_dir=tmp_path / "build", manifest_dir=folder, strict=True, version="2.3.4")
    assert package.placeholders == () and package.manifest["version"] == "2.3.4"


def test_schema_errors_fail_the_build_and_are_listed(tmp_path: Path) -> None:
    folder = _manifest_copy(tmp_path)

    def break_it(m: dict[str, Any]) -> None:
        m["accentColor"] = "blue"
        m["name"]["short"] = "A name much longer than thirty characters"

    _edit_json(folder / "manifest.json", break_it)
    with pytest.raises(PackagingError) as excinfo:
        build(_settings(), out_dir=tmp_path / "build", manifest_dir=folder)
    message = str(excinfo.value)
    assert "manifest.json: /accentColor" in message and "manifest.json: /name/short" in message
    assert not (tmp_path / "build" / "appPackage.zip").exists()


def test_language_file_is_validated_against_the_localization_schema(tmp_path: Path) -> None:
    folder = _manifest_copy(tmp_path)
    _edit_json(folder / "nl.json", lambda d: d.update({"name.short": "Een veel te lange naam voor Teams, zeker weten"}))
    with pytest.raises(PackagingError, match=r"nl\.json: /name\.short"):
        build(_settings(), out_dir=tmp_path / "build", manifest_dir=folder)


def test_language_file_must_translate_existing_entries() -> None:
    manifest = json.loads((MANIFEST_DIR / "manifest.json").read_text(encoding="utf-8"))
    strings = json.loads((MANIFEST_DIR / "nl.json").read_text(encoding="utf-8"))
    check_language_file(manifest, "nl.json", strings)  # the real file is fine
    with pytest.raises(PackagingError, match=r"commands\[7\]"):
        check_language_file(manifest, "nl.json", {"bots[0].commandLists[0].commands[7].title": "x"})
    with pytest.raises(PackagingError, match="translates nothing"):
        check_language_file(manifest, "nl.json", {"bots[0].commandLists[0].commands[0].prompt": "x"})


def _write_icon(folder: Path, name: str, rows: list[list[Pixel]], *, alpha: bool) -> None:
    (folder / name).write_bytes(encode_png(rows, alpha=alpha))


def test_outline_icon_with_colour_is_refused(tmp_path: Path) -> None:
    folder = _manifest_copy(tmp_path)
    rows = make_icons.draw_outline()
    rows[16][16] = (255, 0, 0, 255)
    _write_icon(folder, "outline.png", rows, alpha=True)
    with pytest.raises(PackagingError, match="only hold white or transparent pixels"):
        build(_settings(), out_dir=tmp_path / "build", manifest_dir=folder)


def test_outline_icon_without_alpha_and_wrong_sizes_are_refused(tmp_path: Path) -> None:
    folder = _manifest_copy(tmp_path)
    _write_icon(folder, "outline.png", make_icons.draw_outline(), alpha=False)
    with pytest.raises(PackagingError, match="transparent background"):
        build(_settings(), out_dir=tmp_path / "build", manifest_dir=folder)
    _write_icon(folder, "color.png", [[(0, 0, 0, 255)] * 96 for _ in range(96)], alpha=False)
    with pytest.raises(PackagingError, match="192x192, not 96x96"):
        build(_settings(), out_dir=tmp_path / "build", manifest_dir=folder)


def test_committed_icons_are_what_make_icons_draws() -> None:
    for name, data in make_icons.icons().items():
        assert read_png_file(MANIFEST_DIR / name).pixels == read_png(data).pixels, (
            f"manifest/{name} is stale: run .venv/bin/python -m tools.make_icons"
        )
    assert make_icons.main(["--check"]) == 0


def test_missing_node_is_a_clear_failure(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(PackagingError, match="node is not on PATH: install Node.js"):
        build(_settings(), out_dir=tmp_path)


def test_missing_npm_packages_are_a_clear_failure(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(package_app, "ROOT", tmp_path)
    with pytest.raises(PackagingError, match="npm packages missing from node_modules: @microsoft/app-manifest"):
        package_app.check_node()


def test_cli_builds_and_reports(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(Settings, "from_env", classmethod(lambda cls: _settings()))
    assert package_app.main(["--out", str(tmp_path)]) == 0
    out, err = capsys.readouterr()
    assert "manifest 1.30 valid against node_modules/@microsoft/app-manifest" in out
    assert f"app id {APP_ID}" in out and "warning: developer.privacyUrl" in err
    assert package_app.main(["--out", str(tmp_path), "--strict"]) == 1
    assert "placeholders left in the package" in capsys.readouterr().err


@pytest.mark.parametrize("language", ["en", "nl"])
def test_command_titles_are_understood_by_the_bot(language: str) -> None:
    """Clicking a command types its title (Dutch in nl.json where translated): the bot must understand it."""
    manifest = json.loads((MANIFEST_DIR / "manifest.json").read_text(encoding="utf-8"))
    strings = json.loads((MANIFEST_DIR / "nl.json").read_text(encoding="utf-8")) if language == "nl" else {}
    expected = {"investigate": Intent.INVESTIGATE, "help": Intent.HELP, "status": Intent.STATUS,
                "alerts here": Intent.ALERTS_HERE, "triage": Intent.TRIAGE}
    for i, command_list in enumerate(manifest["bots"][0]["commandLists"]):
        for j, command in enumerate(command_list["commands"]):
            title = strings.get(f"bots[0].commandLists[{i}].commands[{j}].title", command["title"])
            assert recognize(title).intent is expected[command["title"]], title


def test_png_round_trip_keeps_pixels() -> None:
    rows: list[list[Pixel]] = [[(x * 40, y * 40, 7, 255 - x) for x in range(5)] for y in range(3)]
    image = read_png(encode_png(rows, alpha=True))
    assert [list(r) for r in image.pixels] == rows
    rgb = read_png(encode_png(rows, alpha=False))
    assert rgb.header.color_type == 2 and rgb.pixels[2][4] == (160, 80, 7, 255)
    assert io.BytesIO(encode_png(rows, alpha=True)).read(8) == b"\x89PNG\r\n\x1a\n"
