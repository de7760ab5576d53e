"""What a proactive send can learn about its destination: the conversation or the message no longer exists.

Raised by the Teams edge (`teams.proactive.Messenger`, from the connector's 404) and answered by whoever stored the
reference (`core.notices`, `remediation.views`): they drop what they stored, with one INFO line and no retry.
Here, below both, because `remediation` may not import `core`.
"""

from __future__ import annotations


class ConversationGone(Exception):
    """The connector says the conversation no longer exists (404 `ConversationNotFound`): the app was removed from
    it, or (the Agents Playground) it belonged to an earlier run. Drop the stored reference; never retry."""


class MessageGone(Exception):
    """The connector says the message to update no longer exists (404, e.g. `ActivityNotFoundInConversation`):
    drop that stored card copy; never retry."""
