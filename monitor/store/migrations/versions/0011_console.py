"""console_users, console_sessions, console_login_failures, console_incident_acks: the operators'
console's accounts (argon2 hashes), sessions (token hashes), failed logins (throttling) and
acknowledgements

Revision ID: 0011
Revises: 0010
"""
import sqlalchemy as sa
from alembic import op

import monitor.store.types

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('console_users',
                    sa.Column('name', sa.String(length=64), nullable=False),
                    sa.Column('role', sa.String(length=16), nullable=False),
                    sa.Column('vendor', sa.String(length=64), nullable=True),
                    sa.Column('password_hash', sa.String(length=256), nullable=False),
                    sa.Column('created_at', monitor.store.types.UTCDateTime(timezone=True), nullable=False),
                    sa.Column('disabled_at', monitor.store.types.UTCDateTime(timezone=True), nullable=True),
                    sa.PrimaryKeyConstraint('name'))
    op.create_table('console_sessions',
                    sa.Column('token_sha256', sa.String(length=64), nullable=False),
                    sa.Column('user', sa.String(length=64), nullable=False),
                    sa.Column('csrf', sa.String(length=64), nullable=False),
                    sa.Column('created_at', monitor.store.types.UTCDateTime(timezone=True), nullable=False),
                    sa.Column('last_seen', monitor.store.types.UTCDateTime(timezone=True), nullable=False),
                    sa.Column('expires_at', monitor.store.types.UTCDateTime(timezone=True), nullable=False),
                    sa.PrimaryKeyConstraint('token_sha256'))
    op.create_index('ix_console_sessions_user', 'console_sessions', ['user'])
    op.create_table('console_login_failures',
                    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
                    sa.Column('key', sa.String(length=128), nullable=False),
                    sa.Column('t', monitor.store.types.UTCDateTime(timezone=True), nullable=False),
                    sa.PrimaryKeyConstraint('id'))
    op.create_index('ix_console_login_failures_key_t', 'console_login_failures', ['key', 't'])
    op.create_table('console_incident_acks',
                    sa.Column('incident_id', sa.String(length=32), nullable=False),
                    sa.Column('by', sa.String(length=64), nullable=False),
                    sa.Column('at', monitor.store.types.UTCDateTime(timezone=True), nullable=False),
                    sa.PrimaryKeyConstraint('incident_id'))


def downgrade() -> None:
    op.drop_table('console_incident_acks')
    op.drop_index('ix_console_login_failures_key_t', table_name='console_login_failures')
    op.drop_table('console_login_failures')
    op.drop_index('ix_console_sessions_user', table_name='console_sessions')
    op.drop_table('console_sessions')
    op.drop_table('console_users')
