"""Alembic environment: migrations run on the connection that ``Store.migrate`` hands over.

On PostgreSQL every migration's transaction sets ``riskops.migrating``: the event trigger of
:mod:`riskops.store.guards` lets a superuser login that set it alter the audit tables (a later
release's migration), and refuses everyone else, the owner role included."""

from alembic import context

from riskops.store.guards import MIGRATING_FLAG
from riskops.store.tables import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"SELECT set_config('{MIGRATING_FLAG}', 'on', true)")
    context.run_migrations()
