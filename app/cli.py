"""The `dealgate` command line."""

import os
import sys
import time
from pathlib import Path
from typing import NoReturn

import typer
import yaml

cli = typer.Typer(help="dealgate: a guided complex-sale workflow engine.", no_args_is_help=True)


@cli.command()
def openapi() -> None:
    """Print the OpenAPI document of the API as YAML."""
    from app.main import create_app

    yaml.safe_dump(create_app().openapi(), sys.stdout, sort_keys=False, allow_unicode=True)


@cli.command()
def settings() -> None:
    """Print every setting (DEALGATE_...), its default and what it does, as a Markdown table."""
    from app.settings import settings_table

    typer.echo(settings_table(), nl=False)


@cli.command()
def migrate() -> None:
    """Bring the configured database to the newest schema."""
    from alembic import command
    from alembic.config import Config

    command.upgrade(Config(str(Path(__file__).resolve().parent.parent / "alembic.ini")), "head")


@cli.command("judge-gates")
def judge_gates() -> None:
    """Judge the next gate of every open deal unchanged since before deals kept what blocks them (after an
    upgrade past revision 0013), so the blockers report counts them; safe to run while the API serves."""
    from app.db import Database
    from app.opportunities.blockers import judge_unjudged
    from app.settings import get_settings

    database = Database(get_settings().database_url)
    try:
        typer.echo(f"{judge_unjudged(database)} open deals judged.")
    finally:
        database.dispose()


@cli.command()
def worker() -> None:
    """Deliver webhooks from the outbox until SIGTERM or Ctrl-C (the batch in hand finishes first).

    Run any number on PostgreSQL; set DEALGATE_SERVER_WORKER=false on the servers when they run.
    """
    from app.events.worker import work
    from app.settings import get_settings

    work(get_settings())


admin = typer.Typer(help="Workspaces and their first administrator.", no_args_is_help=True)
cli.add_typer(admin, name="admin")


@admin.command()
def bootstrap(workspace: str = typer.Option("My company", help="The workspace's name."),
              handle: str = typer.Option("admin", help="The administrator's handle."),
              if_empty: bool = typer.Option(False, "--if-empty", help="Do nothing when a workspace exists."),
              key_file: Path | None = typer.Option(None, "--key-file", dir_okay=False,
                                                   help="Write the key to this file (mode 0600) instead of "
                                                        "printing it.")) -> None:
    """Create a workspace and its administrator, and print the administrator's API key once (or write it to
    a file only its owner reads, for container entrypoints)."""
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
    if key_file is not None:
        descriptor = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(descriptor, 0o600)  # an existing file keeps its mode on open: make it the owner's alone
        with os.fdopen(descriptor, "w", encoding="utf-8") as written:
            written.write(key + "\n")
        typer.echo(f"API key written to {key_file} (mode 0600).")
        return
    typer.echo("API key (shown once; keep it secret):")
    typer.echo(key)


process = typer.Typer(help="Process versions as YAML files, through the API (DEALGATE_URL, DEALGATE_KEY).",
                      no_args_is_help=True)
cli.add_typer(process, name="process")

UrlOption = typer.Option("http://127.0.0.1:8000", envvar="DEALGATE_URL", help="Where the API answers.")
KeyOption = typer.Option(None, envvar="DEALGATE_KEY", help="An API key of an ops user or an administrator "
                                                           "(visible to other users in the process list: "
                                                           "prefer DEALGATE_KEY or --api-key-file).")
KeyFileOption = typer.Option(None, "--api-key-file", envvar="DEALGATE_KEY_FILE", dir_okay=False,
                             help="A file holding the API key.")


def _api_key(api_key: str | None, key_file: Path | None) -> str:
    """The key from the option or DEALGATE_KEY, else from the key file."""
    if api_key:
        return api_key
    if key_file is not None:
        try:
            return key_file.read_text(encoding="utf-8").strip()
        except OSError as error:
            typer.echo(f"Cannot read the API key file: {error}", err=True)
            raise typer.Exit(1) from None
    typer.echo("Give an API key: DEALGATE_KEY, --api-key-file (or DEALGATE_KEY_FILE), or --api-key.", err=True)
    raise typer.Exit(1)


def _fail(error: Exception, source: "ProcessFile | None" = None) -> NoReturn:
    from app.process_files import ApiError

    if isinstance(error, ApiError):
        typer.echo(f"Refused ({error.status}): {error}", err=True)
        errors = error.problem.get("errors", [])
        for item in errors:
            where = item.get("pointer", "")
            if item.get("line"):
                where += f" (line {item['line']}, column {item['column']} of the rule)"
            found = source.locate(where.split(" ")[0], item.get("line"), item.get("column")) if source else None
            typer.echo(f"  {found + ' ' if found else ''}{where}: {item.get('message')}", err=True)
        if any(any(part.isdigit() for part in e.get("pointer", "").split("/")) for e in errors):
            typer.echo("  (a pointer counts the items of a list from 0)", err=True)
    else:
        typer.echo(f"Cannot reach the API: {error}", err=True)
    raise typer.Exit(1)


@process.command("export")
def export_process(key: str, version: int = typer.Option(None, help="A version number (default: the latest "
                                                                     "published one)."),
                   url: str = UrlOption, api_key: str | None = KeyOption,
                   api_key_file: Path | None = KeyFileOption) -> None:
    """Print a process version as YAML."""
    from app.process_files import Api, ApiError, as_file, to_yaml

    api = Api(url, _api_key(api_key, api_key_file))
    try:
        chosen = version or api.call("GET", f"/v1/processes/{key}")["latest_published"]
        if chosen is None:
            typer.echo(f"Process {key} has no published version; name one with --version.", err=True)
            raise typer.Exit(1)
        found = api.call("GET", f"/v1/processes/{key}/versions/{chosen}")
    except (ApiError, OSError) as error:
        _fail(error)
    typer.echo(to_yaml(as_file(key, found["spec"])), nl=False)


@process.command("apply")
def apply_process(path: Path = typer.Argument(..., exists=True, dir_okay=False, help="A process YAML file."),
                  publish: bool = typer.Option(False, "--publish", help="Publish the new version at once."),
                  url: str = UrlOption, api_key: str | None = KeyOption,
                  api_key_file: Path | None = KeyFileOption) -> None:
    """Validate a process file, show how it differs from the newest version, store it as a draft."""
    from app.engine.spec import ProcessSpec
    from app.errors import InvalidInput
    from app.process_files import Api, ApiError, ProcessFile, as_file, difference, to_yaml
    from app.processes.service import compile_spec

    try:
        source = ProcessFile(path)
    except ValueError as broken:
        typer.echo(str(broken), err=True)
        raise typer.Exit(1) from None
    document = source.document
    if not isinstance(document, dict) or not isinstance(document.get("key"), str):
        typer.echo(f"{path} must be a YAML mapping with a 'key'.", err=True)
        raise typer.Exit(1)
    key = document.pop("key")
    try:
        compile_spec(document, key=key, version=1)
    except InvalidInput as invalid:
        _fail(ApiError(invalid.status, {"detail": invalid.detail, **invalid.extensions}), source)
    spec = ProcessSpec.model_validate(document).model_dump(mode="json")
    api = Api(url, _api_key(api_key, api_key_file))
    try:
        try:
            versions = api.call("GET", f"/v1/processes/{key}")["versions"]
        except ApiError as error:
            if error.status != 404:
                raise
            versions = []
        if versions:
            newest = api.call("GET", f"/v1/processes/{key}/versions/{versions[-1]['version']}")
            change = difference(to_yaml(as_file(key, newest["spec"])), to_yaml(as_file(key, spec)),
                                f"{key} version {newest['version']}", str(path))
            if change:
                typer.echo(change, nl=False)
                stored = api.call("POST", f"/v1/processes/{key}/versions", spec)
                typer.echo(f"Stored {key} version {stored['version']} as a draft.")
            else:
                stored = newest
                typer.echo(f"{path} is the same as {key} version {newest['version']} ({newest['status']}); "
                           "nothing new to store.")
        else:
            stored = api.call("POST", "/v1/processes", {"key": key, **spec})
            typer.echo(f"New process {key}; stored version {stored['version']} as a draft.")
        if publish and stored["status"] == "draft":  # If-Match: exactly the draft shown, not a later edit
            api.call("POST", f"/v1/processes/{key}/versions/{stored['version']}/publish", if_match=api.etag)
            typer.echo(f"Published {key} version {stored['version']}.")
    except (ApiError, OSError) as error:
        _fail(error, source)


@cli.command("import")
def import_deals(path: Path = typer.Argument(..., exists=True, dir_okay=False, help="The export: CSV or NDJSON."),
                 mapping_file: Path = typer.Option(..., "--mapping", exists=True, dir_okay=False,
                                                   help="The mapping file (YAML): columns, owner and stage maps."),
                 rejects: Path | None = typer.Option(None, "--rejects", dir_okay=False,
                                                     help="Where refused rows go (default: <file>.rejects.csv)."),
                 batch: int = typer.Option(100, min=1, max=100, help="Deals per request."),
                 url: str = UrlOption, api_key: str | None = KeyOption,
                 api_key_file: Path | None = KeyFileOption) -> None:
    """Load a CRM's deals (with their accounts and a contact each) through the batch upsert API. Running it
    again updates what it created; refused rows go to the reject file with their line and reason."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from app.integrations.importer import Client, ImportFailed, apply_maps, count_records, read_mapping, run, \
        write_rejects

    console = Console(stderr=True)
    try:
        mapping = read_mapping(mapping_file)
        total = count_records(path, mapping)
        client = Client(url, _api_key(api_key, api_key_file))
        changed = apply_maps(client, mapping)
        if changed:
            console.print(changed)
        started = time.monotonic()
        with Progress(TextColumn("Importing"), BarColumn(), MofNCompleteColumn(),
                      TextColumn("{task.fields[rate]:,.0f} rows/s"), TimeRemainingColumn(), console=console) as bar:
            task = bar.add_task("import", total=total, rate=0.0)

            def advance(done: int) -> None:
                completed = bar.tasks[0].completed + done
                bar.update(task, completed=completed, rate=completed / max(time.monotonic() - started, 1e-9))

            summary = run(path, mapping, client, advance, batch)
    except ImportFailed as failure:
        typer.echo(str(failure), err=True)
        raise typer.Exit(1) from None
    except OSError as error:
        _fail(error)
    seconds = time.monotonic() - started
    typer.echo(f"{total:,} rows in {seconds:.1f} s ({total / max(seconds, 1e-9):,.0f} rows/s): "
               f"{summary.created:,} created, {summary.updated:,} updated, {summary.held_at_gate:,} stopped at a "
               f"gate, {summary.refused:,} refused.")
    if summary.rejects:
        target = rejects or path.with_suffix(path.suffix + ".rejects.csv")
        write_rejects(target, summary)
        typer.echo(f"The refused rows and why: {target}")
        raise typer.Exit(2)


@cli.command()
def serve(host: str = typer.Option("127.0.0.1", help="The address to listen on."),
          port: int = typer.Option(8000, help="The port to listen on."),
          workers: int = typer.Option(1, min=1, max=64, help="Server processes sharing the port (each starts a "
                                                             "webhook worker beside it unless "
                                                             "DEALGATE_SERVER_WORKER=false).")) -> None:
    """Serve the API, logging JSON lines, until SIGTERM or Ctrl-C (requests in flight finish first)."""
    import tempfile

    import uvicorn

    from app.logs import log_config
    from app.settings import get_settings

    settings = get_settings()
    # Every process of the server writes its metrics where /metrics, answered by any of them, sums them up.
    given = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    with tempfile.TemporaryDirectory(prefix="dealgate-metrics-") as own:
        shared = Path(given or own)
        shared.mkdir(parents=True, exist_ok=True)
        for kind in ("counter", "gauge", "histogram", "summary"):  # a previous run's figures, and nothing else
            for stale in shared.glob(f"{kind}_*.db"):
                stale.unlink()
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(shared)
        uvicorn.run("app.main:create_app", factory=True, host=host, port=port, workers=workers,
                    log_config=log_config(settings.log_level), access_log=False,
                    timeout_graceful_shutdown=settings.shutdown_grace_seconds)


def main() -> None:
    """Entry point of the console script."""
    cli()


if __name__ == "__main__":
    main()
