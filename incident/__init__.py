"""The incident record of a case: what happened, what was found, what was done by whom and when, what is still open.

`report.build_report` reads a case from the store (its investigation snapshot and the audit log) into a frozen
`IncidentReport`; `report.report_json` renders it as JSON, `pdf.render_pdf` as a PDF. The command line is
`python -m incident CASE_ID --format pdf|json`; the findings card's "Export report" hands the same PDF to a person
through Teams' file consent flow (`teams/files.py`).

Arrows: incident reads `store`, `investigation` (the snapshot records), `remediation` (the gate's open steps and the
done steps, pure functions of the stored case), `cards` (inert tenant text, value display), `locales` and `domain`;
it imports no `teams`, `dialogs`, `core` or `bot` (tests/unit/test_arrows.py). The CLI alone reads `config`.
"""
