"""vendor tickets and vendor API tokens

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 10:00:00
"""
import sqlalchemy as sa
from alembic import op

import monitor.store.types

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'tickets',
        sa.Column('number', sa.String(length=16), nullable=False),
        sa.Column('incident_id', sa.String(length=32), nullable=False),
        sa.Column('camera_id', sa.String(length=64), nullable=False),
        sa.Column('vendor', sa.String(length=64), nullable=False),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('address', sa.Text(), nullable=False),
        sa.Column('owner', sa.JSON(), nullable=False),
        sa.Column('steps_taken', sa.JSON(), nullable=False),
        sa.Column('evidence', sa.JSON(), nullable=False),
        sa.Column('timeline', sa.JSON(), nullable=False),
        sa.Column('visit_at', monitor.store.types.UTCDateTime(), nullable=True),
        sa.Column('created_at', monitor.store.types.UTCDateTime(), nullable=False),
        sa.Column('updated_at', monitor.store.types.UTCDateTime(), nullable=False),
        sa.Column('closed_at', monitor.store.types.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint('number'),
        sa.UniqueConstraint('incident_id', 'camera_id', name='uq_tickets_incident_camera'),
    )
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.create_index('ix_tickets_vendor_state', ['vendor', 'state'], unique=False)
        batch_op.create_index(batch_op.f('ix_tickets_incident_id'), ['incident_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_tickets_camera_id'), ['camera_id'], unique=False)

    op.create_table(
        'vendor_tokens',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('vendor', sa.String(length=64), nullable=False),
        sa.Column('token_sha256', sa.String(length=64), nullable=False),
        sa.Column('created_at', monitor.store.types.UTCDateTime(), nullable=False),
        sa.Column('revoked_at', monitor.store.types.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('token_sha256'),
    )
    with op.batch_alter_table('vendor_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_vendor_tokens_vendor'), ['vendor'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('vendor_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_vendor_tokens_vendor'))
    op.drop_table('vendor_tokens')
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_tickets_camera_id'))
        batch_op.drop_index(batch_op.f('ix_tickets_incident_id'))
        batch_op.drop_index('ix_tickets_vendor_state')
    op.drop_table('tickets')
