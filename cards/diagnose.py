"""The `diagnose` card: the tenant pre-flight (`core.preflight.Report`) for a security admin, in their language.

One line per feature: available (a fact), or not with why and the docs/DEPLOY.md row that fixes it; unavailable features
first. Names of what is missing come from the bot's own table or from a permission name parsed out of Microsoft's
error (letters, digits and dots), and are cleaned like any text from outside all the same.
"""

from __future__ import annotations

from microsoft_teams.cards import CardElement, Fact, FactSet, RichTextBlock, TextRun

from cards.base import JsonDict, catalog_line, envelope, heading, para
from core.preflight import FeatureStatus, Report
from locales import t


def diagnose_card(report: Report, locale: str | None) -> JsonDict:
    """The pre-flight as an Adaptive Card: summary, licences, one fact per feature (unavailable first)."""
    total = len(report.features)
    missing = sum(not s.available for s in report.features)
    summary = (t(locale, "diagnose.summary.ok", count=str(total)) if report.ok
               # The plural agrees with what is missing ("1 of 22 features is …"), so the missing number is the count.
               else t(locale, "diagnose.summary.missing", count=missing, total=total))
    licences = ", ".join(
        t(locale, "diagnose.licence." + ("unknown" if has is None else "yes" if has else "no"), name=lic.value)
        for lic, has in report.licences().items()
    )
    yes = t(locale, "diagnose.status.available")
    available = [Fact(title=t(locale, f"diagnose.feature.{s.feature.key}"),
                      value=t(locale, "diagnose.status.available_via", via=s.via) if s.fallback else yes)
                 for s in report.features if s.available]
    body: list[CardElement] = [
        heading(t(locale, "diagnose.title")),
        para(summary),
        para(t(locale, "diagnose.licences", licences=licences), subtle=True),
    ]
    # Unavailable first; what a probe found missing can come from Microsoft's error text, so it is a TextRun.
    body.extend(_unavailable(s, locale) for s in report.features if not s.available)
    if available:
        body.append(FactSet(facts=available))
    body.append(para(t(locale, "diagnose.footer"), subtle=True, spacing="Medium"))
    return envelope(body, fallback_text=t(locale, "diagnose.fallback", count=missing, total=total))


def _unavailable(status: FeatureStatus, locale: str | None) -> RichTextBlock:
    runs: list[TextRun] = [
        TextRun(text=t(locale, f"diagnose.feature.{status.feature.key}"), weight="Bolder"),
        TextRun(text=": "),
        TextRun(text=t(locale, "diagnose.status.unavailable"), weight="Bolder"),
        TextRun(text=": "),
    ]
    for index, problem in enumerate(status.problems):
        if index:
            runs.append(TextRun(text="; "))
        runs.extend(catalog_line(locale, f"diagnose.problem.{problem.kind.value}", missing=problem.missing).inlines)  # type: ignore[arg-type]
    runs.append(TextRun(text=". " + t(locale, "diagnose.fix", fix=status.fix)))
    return RichTextBlock(inlines=runs)  # type: ignore[arg-type]
