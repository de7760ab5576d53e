"""Keeping the speaker's personal-chat conversation reference, so the core's notices can reach them later.

The decisions (who gets which alert or note) are the core's (`core.notices`); this is the Teams side: reading the
reference off an activity. It is stored as plain JSON (the form `ConversationReference.serialize()` gives), without
the activity id, so a proactive message is a new message rather than a reply.
"""

from __future__ import annotations

import logging

from microsoft_agents.hosting.core import TurnContext

from core.notices import stored_reference
from domain.people import Speaker
from store import Store, StoreUnavailable
from teams.proactive import reference_of

log = logging.getLogger(__name__)


class ConversationKeeper:
    """Saves the speaker's personal-chat conversation reference, locale and time zone when they change.

    The reference of a personal chat rarely changes, and writing it on every turn was the largest single
    cost of a `help` turn (docs/PERFORMANCE.md), so the last value this process saved per user is kept in a
    small bounded cache and an unchanged one is not written again.
    """

    CACHE_SIZE = 10_000

    def __init__(self, store: Store) -> None:
        self._store = store
        self._saved: dict[tuple[str, str], str] = {}

    async def remember(self, turn_context: TurnContext, speaker: Speaker) -> None:
        """Save (upsert) the reference; a failure is logged and never spoils the turn."""
        activity = turn_context.activity
        conversation = activity.conversation
        if conversation is None or (conversation.conversation_type or "personal").lower() != "personal":
            return
        if not speaker.aad_object_id:
            return
        try:
            time_zone = getattr(activity, "local_timezone", None)
            zone = time_zone if isinstance(time_zone, str) and time_zone else None
            key = (speaker.tenant_id, speaker.aad_object_id)
            # Everything the stored reference is made of, read straight off the models: serialising the reference
            # on every turn would cost more than the comparison (docs/PERFORMANCE.md).
            fingerprint = repr((vars(activity.from_property) if activity.from_property else None,
                                vars(activity.recipient) if activity.recipient else None, vars(conversation),
                                str(activity.channel_id), activity.service_url, activity.locale or None, zone))
            if self._saved.get(key) == fingerprint:
                return
            reference = stored_reference(reference_of(activity))
            await self._store.conversations.save(
                speaker.tenant_id, speaker.aad_object_id, reference, locale=activity.locale or None, time_zone=zone,
            )
            if len(self._saved) >= self.CACHE_SIZE:
                self._saved.clear()
            self._saved[key] = fingerprint
        except StoreUnavailable as exc:  # an outage, not a bug: no traceback
            log.warning("could not save the conversation reference of %s: the store is unavailable (%s)",
                        speaker.aad_object_id, exc.reason)
        except Exception:  # noqa: BLE001 - a lost reference only costs a later notification; the turn goes on
            log.warning("could not save the conversation reference of %s", speaker.aad_object_id, exc_info=True)
