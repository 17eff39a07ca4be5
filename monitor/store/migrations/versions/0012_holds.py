"""console_silences and console_maintenance: an operator's silence on an incident, and planned works on
an area, a provider or cameras; owner and vendor messages in their scope wait until they end

Revision ID: 0012
Revises: 0011
"""
import sqlalchemy as sa
from alembic import op

import monitor.store.types

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('console_silences',
                    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
                    sa.Column('incident_id', sa.String(length=32), nullable=False),
                    sa.Column('reason', sa.String(length=200), nullable=False),
                    sa.Column('ends_at', monitor.store.types.UTCDateTime(timezone=True), nullable=False),
                    sa.Column('by', sa.String(length=64), nullable=False),
                    sa.Column('created_at', monitor.store.types.UTCDateTime(timezone=True), nullable=False),
                    sa.PrimaryKeyConstraint('id'))
    op.create_index('ix_console_silences_incident_id', 'console_silences', ['incident_id'])
    op.create_table('console_maintenance',
                    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
                    sa.Column('scope', sa.String(length=16), nullable=False),
                    sa.Column('values', sa.JSON(), nullable=False),
                    sa.Column('starts_at', monitor.store.types.UTCDateTime(timezone=True), nullable=False),
                    sa.Column('ends_at', monitor.store.types.UTCDateTime(timezone=True), nullable=False),
                    sa.Column('reason', sa.String(length=200), nullable=False),
                    sa.Column('by', sa.String(length=64), nullable=False),
                    sa.Column('created_at', monitor.store.types.UTCDateTime(timezone=True), nullable=False),
                    sa.PrimaryKeyConstraint('id'))
    op.create_index('ix_console_maintenance_starts_at', 'console_maintenance', ['starts_at'])
    op.create_index('ix_console_maintenance_ends_at', 'console_maintenance', ['ends_at'])


def downgrade() -> None:
    op.drop_index('ix_console_maintenance_ends_at', table_name='console_maintenance')
    op.drop_index('ix_console_maintenance_starts_at', table_name='console_maintenance')
    op.drop_table('console_maintenance')
    op.drop_index('ix_console_silences_incident_id', table_name='console_silences')
    op.drop_table('console_silences')
