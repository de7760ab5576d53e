"""Journey of "Export report" (the incident report through Teams' file consent), in the Agents Playground against the
real bot in demo mode (one bot for the module, the default Playground: Alex Wilber, security admin).

Alex investigates Megan Bowen and presses "Export report" on the findings card, in his personal chat: the answer
under the card says the report was sent to save, and the bot's file consent card arrives as a new message. The
Playground (0.2.28) does not render file consent cards: it shows "File Consent Card is not supported yet" in the
message's place (its name for the attachment type `application/vnd.microsoft.teams.card.file.consent`), so Allow
and Decline cannot be pressed here; the accept and the upload are covered by
tests/integration/test_export_report_http.py.
"""

from __future__ import annotations

import pytest

from tests.e2e.harness import PlaygroundPage
from tests.e2e.steps import en

pytestmark = pytest.mark.e2e

SLOW = 45.0  # seconds: an investigation or a card press on a loaded machine
# The Playground's text for an attachment of a card type it knows but does not draw ("Message.UnsupportedCard").
UNSUPPORTED_FILE_CONSENT = "File Consent Card is not supported yet"


async def test_export_report_sends_the_file_consent_card(ui: PlaygroundPage) -> None:
    await ui.open_personal_chat()
    await ui.send("investigate MeganB@example.com")
    card = await ui.wait_for_card("Megan Bowen", timeout=SLOW)
    await card.filter(has_text="Compromised").wait_for(state="visible", timeout=SLOW * 1000)
    assert await ui.messages().filter(has_text=UNSUPPORTED_FILE_CONSENT).count() == 0

    answer = await ui.click_card_button(card, en("incident.button.export"), timeout=SLOW)
    # A message under the card (the card stays): the report went to this chat, to be saved.
    assert answer.type == "application/vnd.microsoft.activity.message", answer
    assert str(answer.value) == en("incident.export.sent_here"), answer
    assert "Choose" in await ui.card_notice(card)
    consent = await ui.wait_for_text(UNSUPPORTED_FILE_CONSENT, timeout=SLOW)
    assert await ui.messages().filter(has_text=UNSUPPORTED_FILE_CONSENT).count() == 1
    assert "Megan Bowen" in " ".join(await ui.card_texts(card))  # the findings card is still there
    await consent.scroll_into_view_if_needed()
    await ui.screenshot("export-report-file-consent")
