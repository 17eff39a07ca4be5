"""cluster_nodes and cluster_leases: node heartbeats and the decider's lease with its fencing epoch;
rec_segments.node and rec_pending_deletions.node: whose disk holds a segment (NULL: written before nodes);
cluster_frame_stats: the recording nodes' frame counts, for the decider's probes

Revision ID: 0009
Revises: 0008
"""
import sqlalchemy as sa
from alembic import op

import monitor.store.types

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('cluster_nodes',
                    sa.Column('id', sa.String(length=128), nullable=False),
                    sa.Column('host', sa.String(length=255), nullable=False),
                    sa.Column('pid', sa.Integer(), nullable=False),
                    sa.Column('records', sa.Boolean(), nullable=False),
                    sa.Column('decides', sa.Boolean(), nullable=False),
                    sa.Column('started_at', monitor.store.types.UTCDateTime(timezone=True), nullable=False),
                    sa.Column('heartbeat_at', monitor.store.types.UTCDateTime(timezone=True), nullable=False),
                    sa.PrimaryKeyConstraint('id'))
    leases = op.create_table('cluster_leases',
                             sa.Column('name', sa.String(length=32), nullable=False),
                             sa.Column('holder', sa.String(length=128), nullable=True),
                             sa.Column('instance', sa.String(length=32), nullable=True),
                             sa.Column('epoch', sa.Integer(), nullable=False),
                             sa.Column('expires_at', monitor.store.types.UTCDateTime(timezone=True), nullable=True),
                             sa.PrimaryKeyConstraint('name'))
    # the decider's lease exists from the start, unheld: taking it is one conditional UPDATE, never an INSERT race
    op.bulk_insert(leases, [{'name': 'decider', 'holder': None, 'instance': None, 'epoch': 0, 'expires_at': None}])
    op.create_table('cluster_frame_stats',
                    sa.Column('camera_id', sa.String(length=64), nullable=False),
                    sa.Column('node', sa.String(length=128), nullable=False),
                    sa.Column('at', monitor.store.types.UTCDateTime(timezone=True), nullable=False),
                    sa.Column('window_s', sa.Float(), nullable=False),
                    sa.Column('frames', sa.Integer(), nullable=False),
                    sa.Column('fps', sa.Float(), nullable=False),
                    sa.Column('max_gap_s', sa.Float(), nullable=True),
                    sa.Column('bytes', sa.Integer(), nullable=False),
                    sa.Column('connected', sa.Boolean(), nullable=False),
                    sa.PrimaryKeyConstraint('camera_id'))
    with op.batch_alter_table('rec_segments') as batch:
        batch.add_column(sa.Column('node', sa.String(length=128), nullable=True))
        batch.create_index('ix_rec_segments_node', ['node'])
    with op.batch_alter_table('rec_pending_deletions') as batch:
        batch.add_column(sa.Column('node', sa.String(length=128), nullable=True))


def downgrade() -> None:
    op.drop_table('cluster_frame_stats')
    with op.batch_alter_table('rec_pending_deletions') as batch:
        batch.drop_column('node')
    with op.batch_alter_table('rec_segments') as batch:
        batch.drop_index('ix_rec_segments_node')
        batch.drop_column('node')
    op.drop_table('cluster_leases')
    op.drop_table('cluster_nodes')
