"""The ``livecast`` command line."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import click
from pydantic import ValidationError

from livecast import __version__
from livecast.observability.logging import configure_logging
from livecast.settings import Settings


def _settings(**overrides: Any) -> Settings:
    given = {key: value for key, value in overrides.items() if value is not None}
    try:
        return Settings(**given)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise click.UsageError(f"invalid settings: {problems}") from exc


@click.group(name="livecast", context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="livecast")
def main() -> None:
    """livecast: a self-hosted live streaming platform.

    Every setting can be given as a LIVECAST_* environment variable (LIVECAST_HTTP_PORT,
    LIVECAST_DATABASE_URL, ...) or in ./livecast.toml; flags win over both.
    Run `livecast config show` to see the effective settings.
    """


_data_dir = click.option(
    "--data-dir", type=click.Path(path_type=Path), help="Where embedded data is kept."
)


@main.command()
@click.option("--host", help="Address to bind (default 127.0.0.1).")
@click.option("--http-port", type=int, help="HTTP port (default 8080).")
@click.option("--rtmp-port", type=int, help="RTMP ingest port (default 1935).")
@_data_dir
@click.option("--log-format", type=click.Choice(["json", "console"]), help="Log format.")
@click.option("--log-level", help="DEBUG, INFO, WARNING or ERROR.")
def serve(**flags: Any) -> None:
    """Start livecast: apply migrations, then serve the API, playback and ingest."""
    settings = _settings(**flags)
    configure_logging(settings.log_format, settings.log_level)
    from livecast.server import run

    run(settings)


@main.group()
def db() -> None:
    """Database maintenance."""


@db.command("upgrade")
@_data_dir
def db_upgrade(data_dir: Path | None) -> None:
    """Apply every pending migration (serve also does this on start)."""
    from livecast.storage import db as storage

    settings = _settings(data_dir=data_dir)

    async def go() -> str | None:
        engine = storage.create_engine(settings.effective_database_url)
        try:
            await storage.upgrade(engine)
            return await storage.current_revision(engine)
        finally:
            await engine.dispose()

    revision = asyncio.run(go())
    click.echo(f"database is at revision {revision}")


@main.group()
def user() -> None:
    """User administration."""


@user.command("create")
@click.option("--username", prompt=True, help="3-32 letters, digits or underscores.")
@click.option("--email", prompt=True, help="E-mail address.")
@click.option(
    "--password",
    prompt=True,
    hide_input=True,
    confirmation_prompt=True,
    envvar="LIVECAST_NEW_USER_PASSWORD",
    help="At least 8 characters (or set LIVECAST_NEW_USER_PASSWORD; prompted otherwise).",
)
@click.option("--admin", is_flag=True, help="Give the user the admin role.")
@click.option(
    "--role",
    type=click.Choice(["viewer", "streamer", "moderator", "admin"]),
    help="Role for the user (default streamer; --admin means admin).",
)
@_data_dir
def user_create(
    username: str, email: str, password: str, admin: bool, role: str | None, data_dir: Path | None
) -> None:
    """Create a user; with --admin, the first administrator."""
    from livecast.api.schemas import RegisterRequest
    from livecast.services.roles import Role

    try:
        RegisterRequest(username=username, email=email, password=password)
    except ValidationError as exc:
        reasons = "; ".join(f"{err['loc'][0]}: {err['msg']}" for err in exc.errors())
        raise click.UsageError(reasons) from exc
    settings = _settings(data_dir=data_dir)
    chosen = Role.ADMIN if admin else Role(role or "streamer")
    user_id = asyncio.run(_create_user(settings, username, email, password, chosen))
    click.echo(f"created {chosen} {username.lower()} ({user_id})")


async def _create_user(
    settings: Settings, username: str, email: str, password: str, role: Any
) -> str:
    from livecast.context import build_context
    from livecast.errors import LivecastError
    from livecast.services.users import UserService

    ctx = await build_context(settings)
    try:
        async with ctx.sessions() as session:
            try:
                created = await UserService(session).register(username, email, password, role)
            except LivecastError as exc:
                raise click.ClickException(exc.detail) from exc
            await session.commit()
            return str(created.id)
    finally:
        await ctx.close()


@main.group()
def config() -> None:
    """Configuration."""


@config.command("show")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of TOML-like lines.")
@_data_dir
def config_show(as_json: bool, data_dir: Path | None) -> None:
    """Print the effective settings, with secrets masked."""
    values = _settings(data_dir=data_dir).masked()
    if as_json:
        click.echo(json.dumps(values, indent=2))
        return
    for name, value in values.items():
        click.echo(f"{name} = {json.dumps(value)}")
