"""weekly report: incident spans (cause per camera over time) and sent reports

Revision ID: 0004
Revises: 0002
Create Date: 2026-11-29 10:00:00
"""
import sqlalchemy as sa
from alembic import op

import monitor.store.types

revision = '0004'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'incident_spans',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('incident_id', sa.String(length=32), nullable=False),
        sa.Column('camera_id', sa.String(length=64), nullable=False),
        sa.Column('cause', sa.String(length=32), nullable=False),
        sa.Column('start', monitor.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column('end', monitor.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('incident_spans', schema=None) as batch_op:
        batch_op.create_index('ix_incident_spans_camera_start', ['camera_id', 'start'], unique=False)
        batch_op.create_index('ix_incident_spans_incident_open', ['incident_id', 'end'], unique=False)

    op.create_table(
        'sent_reports',
        sa.Column('week', sa.String(length=8), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('claimed_at', monitor.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column('sent_at', monitor.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column('recipients', sa.JSON(), nullable=False),
        sa.Column('message_id', sa.String(length=255), nullable=True),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('last_error', sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint('week'),
    )


def downgrade() -> None:
    op.drop_table('sent_reports')
    with op.batch_alter_table('incident_spans', schema=None) as batch_op:
        batch_op.drop_index('ix_incident_spans_incident_open')
        batch_op.drop_index('ix_incident_spans_camera_start')
    op.drop_table('incident_spans')
