"""The alembic command line, configured for this project: `python -m migrations` applies every
migration (the same as the bot does on start); any alembic command works too, e.g.
`python -m migrations current`, `python -m migrations history`, `python -m migrations downgrade -1`,
`python -m migrations revision --autogenerate -m "what changes"`.

The database is the bot's: DATABASE_URL, or the SQLite file in DATA_DIR (environment or .env).
"""

from __future__ import annotations

import logging
import sys

from alembic.config import CommandLine

from services.db import alembic_config


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv) or ["upgrade", "head"]
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    cli = CommandLine(prog="python -m migrations")
    options = cli.parser.parse_args(args)
    if not hasattr(options, "cmd"):
        cli.parser.error("too few arguments")
    config = alembic_config()
    config.cmd_opts = options
    cli.run_cmd(config, options)
    return 0


if __name__ == "__main__":
    sys.exit(main())
