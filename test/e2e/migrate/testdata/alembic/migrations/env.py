"""Alembic environment: builds the URL as the api image does, from
DATABASE_URL (ConfigMap, no password) and DATABASE_PASSWORD (Secret)."""
import os
import sys
from logging.config import fileConfig
from urllib.parse import quote, urlsplit, urlunsplit

from alembic import context
from sqlalchemy import create_engine, pool

config = context.config
if config.config_file_name is not None:
    fileConfig(config.config_file_name)
# The migration's output reaches `kubectl logs` line by line.
sys.stdout.reconfigure(line_buffering=True)
sys.stderr.reconfigure(line_buffering=True)


def database_url():
    url = os.environ["DATABASE_URL"]
    password = os.environ.get("DATABASE_PASSWORD", "")
    parts = urlsplit(url)
    if password and parts.password is None and parts.username:
        host = parts.hostname + (":%d" % parts.port if parts.port else "")
        netloc = "%s:%s@%s" % (parts.username, quote(password, safe=""), host)
        parts = parts._replace(netloc=netloc)
    return urlunsplit(parts)


def run_migrations_online():
    engine = create_engine(database_url(), poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=None, transaction_per_migration=True)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("offline mode is not used")
run_migrations_online()
