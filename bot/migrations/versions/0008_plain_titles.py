"""Titles are plain text: those declared in Slack before lose Slack's escapes.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26 10:40:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # `/incident declare` stored its text as Slack sent it (`&amp;`, `&lt;`, `&gt;`). The
    # form and the quiet channel, also `slack`, stored plain text, where such an escape was
    # typed on purpose only rarely. `&amp;` last: `&amp;lt;` was a typed `&lt;`.
    op.execute(
        """
        UPDATE incident
        SET title = REPLACE(REPLACE(REPLACE(title, '&lt;', '<'), '&gt;', '>'), '&amp;', '&')
        WHERE source = 'slack' AND title LIKE '%&%;%'
        """
    )


def downgrade() -> None:
    # Which titles were escaped is not known any more; plain ones read well either way.
    pass
