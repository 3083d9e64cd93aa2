"""The `dealgate` command line."""

import sys
from pathlib import Path

import typer
import yaml

cli = typer.Typer(help="dealgate: a guided complex-sale workflow engine.", no_args_is_help=True)


@cli.command()
def openapi() -> None:
    """Print the OpenAPI document of the API as YAML."""
    from app.main import create_app

    yaml.safe_dump(create_app().openapi(), sys.stdout, sort_keys=False, allow_unicode=True)


@cli.command()
def migrate() -> None:
    """Bring the configured database to the newest schema."""
    from alembic import command
    from alembic.config import Config

    command.upgrade(Config(str(Path(__file__).resolve().parent.parent / "alembic.ini")), "head")


@cli.command()
def serve(host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serve the API."""
    import uvicorn

    uvicorn.run("app.main:create_app", factory=True, host=host, port=port)


def main() -> None:
    """Entry point of the console script."""
    cli()
