"""The report feature assembled: users' reports, the IT channel, IT and user notifications, the watch.

`bot.py` builds one `Reporting` with everything it needs (the process's one `Investigations`, the `CaseBook`, the
outbox, the role lookup and the case card view), so nothing is connected after construction. It hands out the
intent routes for the main dialog, `keeper.remember` for the activity handler (every personal-chat turn saves the
speaker's conversation reference), the card actions for the verb table, and the watch, which `bot.py` starts and
stops. The decisions live in the core (`core.notices`, `core.watch`, `core.cases`); this module only wires them to
Teams.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from core.cases import CaseBook
from core.notices import Contain, Notices, RoleLookup
from core.ports import Outbox
from core.watch import RestrictionWatch
from dialogs.intents import Intent
from dialogs.main import IntentRoute
from dialogs.report import ReportDesk
from investigation.service import Investigations
from m365.protocol import Tenant
from remediation.views import CaseView
from store import Store
from teams.channels import AlertChannels
from teams.notify import ConversationKeeper
from teams.report_actions import send_note_action
from teams.routes import Handler


@dataclass(frozen=True)
class Reporting:
    """The parts of the report feature that the composition root plugs into the handler and the app."""

    notices: Notices
    reports: ReportDesk
    channels: AlertChannels
    keeper: ConversationKeeper
    watch: RestrictionWatch
    store: Store

    @staticmethod
    def notices_for(*, tenant: Tenant, store: Store, investigations: Investigations, cases: CaseBook,
                    outbox: Outbox, role_of: RoleLookup, view: CaseView, notify_affected_user: bool) -> Notices:
        """The process's one `Notices`, built before the rest of the feature: the unblock checker (a listener)
        and the presses come between it and the watch, whose automatic containment presses (`build`)."""
        return Notices(tenant_id=tenant.tenant_id, store=store, investigations=investigations, cases=cases,
                       outbox=outbox, role_of=role_of, view=view, notify_affected_user=notify_affected_user)

    @classmethod
    def build(cls, *, tenant: Tenant, store: Store, cases: CaseBook, notices: Notices, watch_interval_seconds: float,
              contain: Contain | None = None) -> Reporting:
        """Every part, built once and connected: the watch (not started) runs on these notices (`notices_for`),
        with automatic containment when `contain` is given (AUTO_CONTAIN); "alerts here" wakes it for an immediate
        round."""
        watch = RestrictionWatch(tenant=tenant, store=store, notices=notices, interval_seconds=watch_interval_seconds,
                                 contain=contain)
        return cls(notices=notices, reports=ReportDesk(tenant=tenant, cases=cases, it=notices),
                   channels=AlertChannels(store, on_change=watch.wake), keeper=ConversationKeeper(store),
                   watch=watch, store=store)

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

    def send_note(self) -> Handler:
        """IT's "Send note" button, for the verb table (`teams/routes.py`, which also routes "My mail bounces"
        and "Notify IT anyway" to this feature's intents)."""
        return send_note_action(self.store, self.notices)
