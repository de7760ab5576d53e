"""The incident report as a PDF (fpdf2): what `incident.report.report_json` says, laid out for people.

Font: fpdf2 ships no TrueType font and a system font (DejaVu on Debian) is not guaranteed where the bot runs, so
the report uses the PDF core font Helvetica with the Windows-1252 encoding (fpdf2's `core_fonts_encoding`): every
Latin-1 letter, curly quotes, dashes, the ellipsis and the euro sign print as they are. Any other character is
transliterated safely by `printable`: its accents are dropped where that leaves a Windows-1252 letter (ő → o),
otherwise it is written as its code point, `[U+0418]`, so nothing is lost silently and nothing can break the
page. The JSON form of the report keeps the text exactly as it was.

Tenant text reaches this module already inert (`cards.text.clean` in `incident.report`) and is written with
`multi_cell` as plain text: fpdf2's markdown and HTML modes are never enabled, so `**bold**` or `<b>` in a rule
name prints as those characters. Headings come from the catalogs (`incident.*`) in the report's language.
"""

from __future__ import annotations

import unicodedata
from datetime import datetime

from fpdf import FPDF
from fpdf.enums import XPos, YPos

from incident.report import IncidentReport
from locales import format_datetime, has, t

ENCODING = "windows-1252"
FONT = "Helvetica"
# Layout, in millimetres and points.
MARGIN = 15.0
LINE = 5.0
TIME_WIDTH = 38.0


def printable(text: str) -> str:
    """`text` in what the core font can print: Windows-1252 as is, accents dropped where that is enough, any
    other character as `[U+XXXX]` (see the module docstring)."""
    out: list[str] = []
    for char in text:
        if _encodable(char):
            out.append(char)
            continue
        base = "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c))
        if base and all(_encodable(c) for c in base):
            out.append(base)
        else:
            out.append(f"[U+{ord(char):04X}]")
    return "".join(out)


def _encodable(char: str) -> bool:
    try:
        char.encode(ENCODING)
    except UnicodeEncodeError:
        return False
    # C0/C1 controls are encodable but draw nothing sensible; tenant text has none left, our text never had.
    return unicodedata.category(char) != "Cc"


class _Document(FPDF):
    """An A4 page with the case id and the page number in the footer."""

    def __init__(self, footer_text: str, page_label: str) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self._footer_text = footer_text
        self._page_label = page_label

    def footer(self) -> None:
        """The case id on the left, the page number on the right."""
        self.set_y(-12)
        self.set_font(FONT, size=8)
        self.set_text_color(110, 110, 110)
        self.cell(0, 4, self._footer_text, align="L")
        self.set_x(MARGIN)
        self.cell(0, 4, self._page_label.replace("{page}", str(self.page_no())), align="R")


def _when(value: datetime | None, locale: str | None) -> str:
    return format_datetime(value, locale, "UTC")


def render_pdf(report: IncidentReport) -> bytes:
    """The report as the bytes of a PDF file (deterministic for one report: its creation date is the report's)."""
    locale = report.locale
    pdf = _Document(printable(f"{t(locale, 'incident.field.case')} {report.case_id}"),
                    printable(t(locale, "incident.page", page="{page}")))
    pdf.core_fonts_encoding = ENCODING
    pdf.set_margins(MARGIN, MARGIN, MARGIN)
    pdf.set_auto_page_break(True, margin=18)
    pdf.set_creation_date(report.generated_at)
    name = report.display_name or report.account_upn
    pdf.set_title(printable(t(locale, "incident.title", name=name)))
    pdf.set_creator("Blocked Sender Assistant")
    pdf.add_page()

    def heading(text: str, size: int = 13) -> None:
        pdf.ln(2)
        pdf.set_font(FONT, style="B", size=size)
        pdf.multi_cell(0, 7, printable(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.set_font(FONT, size=10)

    def line(text: str, *, size: int = 10, subtle: bool = False, indent: float = 0.0) -> None:
        pdf.set_font(FONT, size=size)
        pdf.set_text_color(*((100, 100, 100) if subtle else (0, 0, 0)))
        pdf.set_x(MARGIN + indent)
        pdf.multi_cell(0, LINE, printable(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.set_text_color(0, 0, 0)

    def field(label: str, value: str) -> None:
        line(f"{t(locale, label)}: {value or '—'}")

    heading(t(locale, "incident.title", name=name), size=16)
    line(t(locale, "incident.generated", time=_when(report.generated_at, locale)), size=9, subtle=True)

    heading(t(locale, "incident.section.account"))
    field("incident.field.name", report.display_name)
    field("incident.field.upn", report.account_upn)
    field("incident.field.account_id", report.account_id)
    field("incident.field.case", report.case_id)
    status_key = f"incident.status.{report.status}"
    field("incident.field.status", t(locale, status_key) if has(status_key) else report.status)
    field("incident.field.opened", _when(report.opened_at, locale))
    if report.resolved_at is not None:
        field("incident.field.resolved", _when(report.resolved_at, locale))

    heading(t(locale, "incident.section.restriction"))
    restricted = ("incident.unknown" if report.restricted is None
                  else "incident.yes" if report.restricted else "incident.no")
    field("incident.field.restricted", t(locale, restricted))
    field("incident.field.since", _when(report.restricted_since, locale) if report.restricted_since else "")
    field("incident.field.reason", report.restriction_reason)

    heading(t(locale, "incident.section.verdict"))
    field("incident.section.verdict", report.verdict_text)
    if report.investigated_at is not None:
        field("incident.field.investigated", _when(report.investigated_at, locale))
    if report.reason_text:
        field("incident.field.why", report.reason_text)
    if report.deciding_text:
        field("incident.field.deciding", report.deciding_text)

    heading(t(locale, "incident.section.findings"))
    if not report.findings:
        line(t(locale, "incident.findings.none"), subtle=True)
    for finding in report.findings:
        line(f"• [{t(locale, f'severity.{finding.severity}')}] {finding.text}")
        for label, value in finding.evidence:
            line(f"{label}: {value}", size=8, subtle=True, indent=5)
    if report.not_checked:
        heading(t(locale, "incident.section.not_checked"), size=11)
        line(", ".join(report.not_checked))

    heading(t(locale, "incident.section.timeline"))
    if not report.timeline:
        line(t(locale, "incident.timeline.none"), subtle=True)
    for event in report.timeline:
        text = event.text + (f" — {t(locale, 'incident.by', actor=event.actor)}" if event.actor else "")
        pdf.set_font(FONT, size=9)
        if pdf.will_page_break(LINE):
            pdf.add_page()
        y = pdf.get_y()
        pdf.set_xy(MARGIN, y)
        pdf.cell(TIME_WIDTH, LINE, printable(_when(event.at, locale)))
        pdf.set_xy(MARGIN + TIME_WIDTH, y)
        pdf.multi_cell(0, LINE, printable(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    heading(t(locale, "incident.section.open"))
    if not report.open_steps:
        line(t(locale, "incident.open.none"), subtle=True)
    for step in report.open_steps:
        line(f"• {step.text}")
    return bytes(pdf.output())
