"""index the open state intervals (every probe round looks them up)

Revision ID: 0006
Revises: 0005
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_state_intervals_open", "state_intervals", ["end", "camera_id"])


def downgrade() -> None:
    op.drop_index("ix_state_intervals_open", table_name="state_intervals")
