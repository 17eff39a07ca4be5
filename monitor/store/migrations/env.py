"""Alembic environment: runs on the connection handed in by monitor.store.db.upgrade."""

from alembic import context
from sqlalchemy import create_engine

from monitor.store import account_models, drift_models, report_models, ticket_models  # noqa: F401 - their tables join Base's metadata
from monitor.store.models import Base
from notify.outbox import NotifyBase
from recorder.index import RecorderBase

config = context.config
# One database, three owners: the monitor's tables, the notify outbox (ntf_*) and the recorder's (rec_*).
target_metadata = [Base.metadata, NotifyBase.metadata, RecorderBase.metadata]

conn = config.attributes.get("connection")
if conn is None:  # alembic CLI use: `alembic -x url=... upgrade head`
    url = context.get_x_argument(as_dictionary=True)["url"]
    with create_engine(url).begin() as c:
        context.configure(connection=c, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
else:
    context.configure(connection=conn, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
