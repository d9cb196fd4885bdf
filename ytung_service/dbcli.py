"""``ytung-db``: upgrade or inspect the platform database from the command line.

ytung-db upgrade                      # the database of the default data dir
ytung-db upgrade --url postgresql://… # any database
"""

from __future__ import annotations

import argparse

from . import db
from .config import default_db_url


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="ytung-db", description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["upgrade", "current"])
    parser.add_argument("--url", default=None, help="SQLAlchemy URL (default: the data dir's)")
    args = parser.parse_args(argv)
    url = args.url or default_db_url()
    if args.action == "upgrade":
        db.upgrade(url)
        print(f"ytung database at {url} is up to date")
    else:
        from alembic import command

        command.current(db.alembic_config(url))


if __name__ == "__main__":
    main()
