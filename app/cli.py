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


admin = typer.Typer(help="Workspaces and their first administrator.", no_args_is_help=True)
cli.add_typer(admin, name="admin")


@admin.command()
def bootstrap(workspace: str = typer.Option("My company", help="The workspace's name."),
              handle: str = typer.Option("admin", help="The administrator's handle."),
              if_empty: bool = typer.Option(False, "--if-empty", help="Do nothing when a workspace exists.")) -> None:
    """Create a workspace and its administrator, and print the administrator's API key once."""
    from app.db import Database
    from app.identity.service import bootstrap as create_workspace
    from app.identity.service import has_workspace
    from app.settings import get_settings

    database = Database(get_settings().database_url)
    try:
        with database.writer() as session:
            if if_empty and has_workspace(session):
                return
            created, key = create_workspace(session, workspace_name=workspace, handle=handle)
            session.commit()
    finally:
        database.dispose()
    typer.echo(f"Workspace {created.name!r} ({created.id}), administrator {handle!r}.")
    typer.echo("API key (shown once; keep it secret):")
    typer.echo(key)


@cli.command()
def serve(host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serve the API."""
    import uvicorn

    uvicorn.run("app.main:create_app", factory=True, host=host, port=port)


def main() -> None:
    """Entry point of the console script."""
    cli()


if __name__ == "__main__":
    main()
