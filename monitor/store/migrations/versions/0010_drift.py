"""drift_baselines, drift_findings, drift_clock_readings: each camera's approved settings, what drifted from
them and when, and the camera clock offsets measured (for lawful-request exports)

Revision ID: 0010
Revises: 0009
"""
import sqlalchemy as sa
from alembic import op

import monitor.store.types

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('drift_baselines',
                    sa.Column('camera_id', sa.String(length=64), nullable=False),
                    sa.Column('taken_at', monitor.store.types.UTCDateTime(timezone=True), nullable=False),
                    sa.Column('approved_by', sa.String(length=128), nullable=False),
                    sa.Column('parts', sa.JSON(), nullable=False),
                    sa.PrimaryKeyConstraint('camera_id'))
    op.create_table('drift_findings',
                    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
                    sa.Column('camera_id', sa.String(length=64), nullable=False),
                    sa.Column('check', sa.String(length=32), nullable=False),
                    sa.Column('expected', sa.Text(), nullable=False),
                    sa.Column('observed', sa.Text(), nullable=False),
                    sa.Column('severity', sa.String(length=16), nullable=False),
                    sa.Column('action', sa.String(length=16), nullable=True),
                    sa.Column('since', monitor.store.types.UTCDateTime(timezone=True), nullable=False),
                    sa.Column('last_seen', monitor.store.types.UTCDateTime(timezone=True), nullable=False),
                    sa.Column('closed_at', monitor.store.types.UTCDateTime(timezone=True), nullable=True),
                    sa.Column('corrected_at', monitor.store.types.UTCDateTime(timezone=True), nullable=True),
                    sa.PrimaryKeyConstraint('id'))
    op.create_index('ix_drift_findings_camera_id', 'drift_findings', ['camera_id'])
    op.create_index('ix_drift_findings_open', 'drift_findings', ['closed_at', 'camera_id'])
    op.create_table('drift_clock_readings',
                    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
                    sa.Column('camera_id', sa.String(length=64), nullable=False),
                    sa.Column('t', monitor.store.types.UTCDateTime(timezone=True), nullable=False),
                    sa.Column('offset_s', sa.Float(), nullable=False),
                    sa.Column('corrected', sa.Boolean(), nullable=False),
                    sa.PrimaryKeyConstraint('id'))
    op.create_index('ix_drift_clock_camera_t', 'drift_clock_readings', ['camera_id', 't'])


def downgrade() -> None:
    op.drop_index('ix_drift_clock_camera_t', table_name='drift_clock_readings')
    op.drop_table('drift_clock_readings')
    op.drop_index('ix_drift_findings_open', table_name='drift_findings')
    op.drop_index('ix_drift_findings_camera_id', table_name='drift_findings')
    op.drop_table('drift_findings')
    op.drop_table('drift_baselines')
