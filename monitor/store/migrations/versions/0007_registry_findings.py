"""registry findings: the registry rows the observations contradict, one current row per camera and field

Revision ID: 0007
Revises: 0006
"""
import sqlalchemy as sa
from alembic import op

import monitor.store.types

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'registry_findings',
        sa.Column('camera_id', sa.String(length=64), nullable=False),
        sa.Column('field', sa.String(length=32), nullable=False),
        sa.Column('registry_value', sa.JSON(), nullable=False),
        sa.Column('observed_value', sa.JSON(), nullable=False),
        sa.Column('evidence', sa.JSON(), nullable=False),
        sa.Column('first_found_at', monitor.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column('found_at', monitor.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column('withdrawn_at', monitor.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('camera_id', 'field'),
    )


def downgrade() -> None:
    op.drop_table('registry_findings')
