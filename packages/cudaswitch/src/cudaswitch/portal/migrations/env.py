"""Alembic's environment, always handed a live connection by ``db.migrate``."""

from alembic import context

from cudaswitch.portal.models import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata,
                  render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
