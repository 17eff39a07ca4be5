"""cameras.disabled_at / disabled_reason: an operator takes a camera out of monitoring and recording
without removing it from the registry (a re-import leaves both alone)

Revision ID: 0008
Revises: 0007
"""
import sqlalchemy as sa
from alembic import op

import monitor.store.types

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('cameras') as batch:
        batch.add_column(sa.Column('disabled_at', monitor.store.types.UTCDateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('disabled_reason', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('cameras') as batch:
        batch.drop_column('disabled_reason')
        batch.drop_column('disabled_at')
