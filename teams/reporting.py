"""The report feature wired together: users' reports, the IT channel, IT and user notifications, the watch.

`bot.build_handler` makes one `Reporting` per handler (or takes the one `bot._build` made) and plugs it in:
its intent routes go to the main dialog, `keeper.remember` to the activity handler (every personal-chat turn
saves the speaker's conversation reference), its card actions to the verb registry. `bot._build` then sets
the outbox (the adapter exists only then), registers `notices.on_case_resolved` with the remediation checker
and runs the watch.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from cards.verbs import Verb
from dialogs.intents import Intent
from dialogs.main import IntentRoute
from dialogs.report import ReportDesk
from investigation.collect import Collector
from investigation.outbreak import BulkInvestigator
from m365.protocol import Tenant
from remediation.views import CaseView
from store import Store
from teams.channels import AlertChannels
from teams.handler import BlockedSenderBot
from teams.notify import ConversationKeeper, Notices, RoleLookup
from teams.report_actions import send_note_action, start_intent
from teams.watch import RestrictionWatch


@dataclass
class Reporting:
    """The parts of the report feature that the composition root plugs into the handler and the app."""

    notices: Notices
    reports: ReportDesk
    channels: AlertChannels
    keeper: ConversationKeeper

    @classmethod
    def create(cls, *, tenant: Tenant, store: Store, notify_affected_user: bool = False) -> Reporting:
        """The parts, not yet connected to an outbox, roles or remediation (`bind` and `bot._build` do that)."""
        notices = Notices(tenant_id=tenant.tenant_id, store=store, collector=Collector(tenant),
                          notify_affected_user=notify_affected_user, bulk=BulkInvestigator(tenant))
        return cls(notices=notices, reports=ReportDesk(tenant=tenant, store=store, it=notices),
                   channels=AlertChannels(store), keeper=ConversationKeeper(store))

    def bind(self, *, role_of: RoleLookup, view: CaseView | None) -> None:
        """Connect the parts that exist only once the handler is built (roles, the remediation card view)."""
        self.notices.role_of = role_of
        self.notices.view = view

    def routes(self) -> Mapping[Intent, IntentRoute]:
        """The intents this feature answers, for `MainDialog(routes=...)`."""
        return {
            Intent.REPORT_BOUNCE: self.reports.report,
            Intent.STATUS: self.reports.status,
            Intent.NOTIFY_IT: self.reports.notify_it,
            Intent.ALERTS_HERE: self.channels.here,
            Intent.ALERTS_OFF: self.channels.off,
            Intent.ALERTS_WHERE: self.channels.where,
        }

    def register(self, bot: BlockedSenderBot, store: Store) -> None:
        """The buttons: "My mail bounces", "Notify IT anyway" and IT's "Send note"."""
        bot.register(Verb.REPORT_BOUNCE, start_intent(bot.begin_main, Intent.REPORT_BOUNCE, "report.button.answered"))
        bot.register(Verb.NOTIFY_IT, start_intent(bot.begin_main, Intent.NOTIFY_IT, "report.button.answered"))
        bot.register(Verb.SEND_NOTE, send_note_action(store, self.notices))

    def watch(self, tenant: Tenant, store: Store, *, interval_minutes: int = 5,
              interval_seconds: float | None = None) -> RestrictionWatch:
        """The restriction watch over these notices (every `interval_seconds`, else `interval_minutes`);
        "alerts here" wakes it for an immediate round."""
        watch = RestrictionWatch(tenant=tenant, store=store, notices=self.notices,
                                 interval_seconds=interval_seconds or interval_minutes * 60.0)
        self.channels.on_change = watch.wake
        return watch
