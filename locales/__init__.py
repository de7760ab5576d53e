"""Message catalogs (English and Dutch) and the one function that picks and formats a message.

Every user-facing sentence lives here, keyed by a stable id. Parameters are filled with
`str.format_map`; callers pass tenant text already made safe by `cards.text`.

Plural forms: a message with a count (`{count}`, or `{n}`) is written in its general ("other") form under its key
in a module's `MESSAGES`, and its singular ("one") form under the same key in that module's optional `ONE` mapping.
`t` picks the form by the count it is given, by the language's plural rule (`plural_category`), so every caller
that passes `count=` gets "1 account" / "2 accounts" without knowing about plurals. The singular forms live in a
mapping of their own so that code scanning a catalog by key prefix (`reason.`, `notice.`) never meets them.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta, timezone, tzinfo
from types import ModuleType
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from locales import (
    en,
    en_codes,
    en_diagnose,
    en_identity,
    en_incident,
    en_remediation,
    en_report,
    en_rules_roles,
    en_triage,
    nl,
    nl_codes,
    nl_diagnose,
    nl_identity,
    nl_incident,
    nl_remediation,
    nl_report,
    nl_rules_roles,
    nl_triage,
)


def _merge(*parts: Mapping[str, str]) -> dict[str, str]:
    """One catalog from the per-feature modules; a key defined twice is a bug caught at import."""
    merged: dict[str, str] = {}
    for part in parts:
        duplicated = merged.keys() & part.keys()
        if duplicated:
            raise ValueError(f"message keys defined twice: {sorted(duplicated)}")
        merged.update(part)
    return merged


_MODULES: Mapping[str, tuple[ModuleType, ...]] = {
    "en": (en, en_codes, en_remediation, en_report, en_triage, en_diagnose, en_incident, en_identity,
           en_rules_roles),
    "nl": (nl, nl_codes, nl_remediation, nl_report, nl_triage, nl_diagnose, nl_incident, nl_identity,
           nl_rules_roles),
}
CATALOGS: Mapping[str, Mapping[str, str]] = {
    lang: _merge(*(module.MESSAGES for module in modules)) for lang, modules in _MODULES.items()
}
# The singular ("one") form of the messages that have one, keyed like `CATALOGS` (see the module docstring).
ONE: Mapping[str, Mapping[str, str]] = {
    lang: _merge(*(getattr(module, "ONE", {}) for module in modules)) for lang, modules in _MODULES.items()
}
DEFAULT_LANGUAGE = "en"
# The parameters a plural form is chosen by, in order of preference.
COUNT_PARAMS = ("count", "n")


def plural_category(lang: str, count: int) -> str:
    """The CLDR plural category of `count` in `lang`: English and Dutch both have "one" (exactly 1) and "other"
    (0, 2, 3 …)."""
    del lang  # both catalogs' languages share the rule; a language with more forms would branch here
    return "one" if count == 1 else "other"


def _count_of(params: Mapping[str, object]) -> int | None:
    """The count a message is about: the first of `COUNT_PARAMS` given as an integer (or a string of digits)."""
    for name in COUNT_PARAMS:
        value = params.get(name)
        if isinstance(value, bool):
            continue
        if isinstance(value, int):
            return value
        if isinstance(value, str) and value.strip().isdigit():
            return int(value.strip())
    return None


def language_of(locale: str | None) -> str:
    """The catalog language for a Teams locale such as `nl-NL` or `en-US`; English when unsupported."""
    if not locale:
        return DEFAULT_LANGUAGE
    lang = locale.replace("_", "-").split("-", 1)[0].lower()
    return lang if lang in CATALOGS else DEFAULT_LANGUAGE


class _Params(dict[str, object]):
    """Leaves an unknown placeholder visible instead of raising, so a catalog slip never breaks a reply."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def t(locale: str | None, key: str, /, **params: object) -> str:
    """The message `key` in the speaker's language, formatted with `params`.

    Falls back to English for a key missing in the other catalog (a test keeps the catalogs in step),
    and to the key itself when no catalog has it. With a count (`count=` or `n=`) the plural form is chosen.
    """
    return template(locale, key, params).format_map(_Params(params))


def plural(locale: str | None, key: str, count: int, /, **params: object) -> str:
    """The message `key` for `count` things, in its singular or plural form, with `{count}` filled in."""
    return t(locale, key, count=count, **params)


def template(locale: str | None, key: str, params: Mapping[str, object] | None = None) -> str:
    """The raw template of `key` (speaker's language, else English, else the key), in the plural form the count
    in `params` asks for; unformatted, for callers that render each placeholder themselves."""
    lang = language_of(locale)
    if key not in CATALOGS[lang]:
        lang = DEFAULT_LANGUAGE
    general = CATALOGS[lang].get(key) or key
    count = _count_of(params or {})
    if count is not None and plural_category(lang, count) == "one":
        return ONE[lang].get(key) or general
    return general


def has(key: str) -> bool:
    """True when the English catalog defines `key`."""
    return key in CATALOGS[DEFAULT_LANGUAGE]


def resolve_timezone(name: str | None) -> tzinfo:
    """The IANA zone Teams reports as `localTimezone`, or UTC when missing or unknown."""
    if name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return timezone.utc


def format_datetime(value: datetime | None, locale: str | None, tz_name: str | None = None) -> str:
    """A date and time in the speaker's language and time zone, e.g. `28 Nov 2026, 10:32` / `28 nov 2026, 10:32`."""
    if value is None:
        return "—"
    local = value.astimezone(resolve_timezone(tz_name))
    months = t(locale, "months.short").split(",")
    month = months[local.month - 1] if len(months) == 12 else str(local.month)
    zone = local.tzname() or "UTC"
    return f"{local.day} {month} {local.year}, {local:%H:%M} {zone}"


def format_duration(delta: timedelta, locale: str | None) -> str:
    """A short human duration: `3 h`, `2 days` / `2 dagen`."""
    seconds = int(delta.total_seconds())
    if seconds < 3600:
        return t(locale, "duration.minutes", n=max(1, seconds // 60))
    if seconds < 86400 * 2:
        return t(locale, "duration.hours", n=seconds // 3600)
    return t(locale, "duration.days", n=seconds // 86400)
