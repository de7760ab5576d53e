"""Every posted copy of a case's card, not one per conversation.

A personal chat can hold several cards of one case (the watch's alert and an admin's own investigation, a
second investigation later): each must be redrawn when the case changes, so a copy is keyed by its activity.

Revision ID: 0002_card_copies
Revises: 0001_initial
Create Date: 2026-11-28
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002_card_copies"
down_revision: str | None = "0001_initial"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Batch mode: SQLite rebuilds the table (it cannot change a primary key in place); PostgreSQL alters it.
    with op.batch_alter_table("case_cards", recreate="auto") as batch:
        batch.drop_constraint("pk_case_cards", type_="primary")
        batch.create_primary_key("pk_case_cards", ["case_id", "conversation_id", "activity_id"])


def downgrade() -> None:
    # Back to one copy per conversation: keep the newest copy of each.
    op.execute(
        "DELETE FROM case_cards WHERE EXISTS (SELECT 1 FROM case_cards AS newer"
        " WHERE newer.case_id = case_cards.case_id AND newer.conversation_id = case_cards.conversation_id"
        " AND (newer.updated_at > case_cards.updated_at OR (newer.updated_at = case_cards.updated_at"
        " AND newer.activity_id > case_cards.activity_id)))"
    )
    with op.batch_alter_table("case_cards", recreate="auto") as batch:
        batch.drop_constraint("pk_case_cards", type_="primary")
        batch.create_primary_key("pk_case_cards", ["case_id", "conversation_id"])
