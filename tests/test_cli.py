"""The command line: help everywhere, config show, db upgrade, user create."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from livecast.cli import main


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> CliRunner:
    monkeypatch.chdir(tmp_path)  # no stray livecast.toml or livecast-data from the checkout
    for name in ("LIVECAST_DATABASE_URL", "LIVECAST_SECRET_KEY", "LIVECAST_HTTP_PORT"):
        monkeypatch.delenv(name, raising=False)
    return CliRunner()


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["serve"],
        ["db"],
        ["db", "upgrade"],
        ["user"],
        ["user", "create"],
        ["config"],
        ["config", "show"],
    ],
)
def test_help_at_every_level(runner: CliRunner, args: list[str]) -> None:
    result = runner.invoke(main, [*args, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage: livecast" in result.output
    assert len(result.output.splitlines()) > 4


def test_config_show_masks_secrets(runner: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIVECAST_SECRET_KEY", "super-secret-value")
    monkeypatch.setenv("LIVECAST_DATABASE_URL", "postgresql+asyncpg://app:hunter2@db:5432/live")
    monkeypatch.setenv("LIVECAST_HTTP_PORT", "9999")
    result = runner.invoke(main, ["config", "show", "--json"])
    assert result.exit_code == 0, result.output
    values = json.loads(result.output)
    assert values["http_port"] == 9999
    assert values["secret_key"] == "********"
    assert values["database_url"] == "postgresql+asyncpg://app:********@db:5432/live"
    assert "hunter2" not in result.output
    assert "super-secret-value" not in result.output


def test_toml_file_and_precedence(runner: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    Path("livecast.toml").write_text('http_port = 7000\nrtmp_port = 7001\nlog_format = "console"\n')
    monkeypatch.setenv("LIVECAST_RTMP_PORT", "7002")
    values = json.loads(runner.invoke(main, ["config", "show", "--json"]).output)
    assert values["http_port"] == 7000  # from the file
    assert values["rtmp_port"] == 7002  # the environment wins over the file
    assert values["log_format"] == "console"


def test_invalid_setting_is_a_clear_usage_error(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LIVECAST_HTTP_PORT", "not-a-port")
    result = runner.invoke(main, ["config", "show"])
    assert result.exit_code == 2
    assert "http_port" in result.output


def test_db_upgrade_and_user_create(runner: CliRunner, tmp_path: Path) -> None:
    data = str(tmp_path / "d")
    upgraded = runner.invoke(main, ["db", "upgrade", "--data-dir", data])
    assert upgraded.exit_code == 0, upgraded.output
    assert "database is at revision" in upgraded.output
    created = runner.invoke(
        main,
        [
            "user",
            "create",
            "--admin",
            "--username",
            "root_admin",
            "--email",
            "r@example.com",
            "--data-dir",
            data,
        ],
        input="a strong password\na strong password\n",
    )
    assert created.exit_code == 0, created.output
    assert "created admin root_admin" in created.output
    again = runner.invoke(
        main,
        [
            "user",
            "create",
            "--username",
            "root_admin",
            "--email",
            "x@example.com",
            "--password",
            "another password",
            "--data-dir",
            data,
        ],
    )
    assert again.exit_code == 1
    assert "already registered" in again.output
    weak = runner.invoke(
        main,
        [
            "user",
            "create",
            "--username",
            "u2",
            "--email",
            "x@example.com",
            "--password",
            "short",
            "--data-dir",
            data,
        ],
    )
    assert weak.exit_code == 2
    assert "username" in weak.output
    assert "password" in weak.output
