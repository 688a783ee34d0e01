"""`headroom mcp install`: runs `claude mcp add` when Claude Code is installed, else prints
what to do. It never touches a config file itself."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from headroom_cli._app import app
from headroom_mcp._cli import mcp_app

runner = CliRunner()


def _script(directory: Path, name: str, body: str) -> Path:
    path = directory / name
    path.write_text(f"#!{sys.executable}\n{body}")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


@pytest.fixture
def fake_path(tmp_path, monkeypatch):
    """A PATH holding only a fake `headroom`; `add_claude(exit_code)` adds a fake `claude`
    that records its argv."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _script(bin_dir, "headroom", "raise SystemExit(0)\n")
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    record = tmp_path / "claude-argv.json"

    def add_claude(exit_code: int = 0) -> Path:
        _script(
            bin_dir,
            "claude",
            f"import json, sys\nopen({str(record)!r}, 'w').write(json.dumps(sys.argv[1:]))\nraise SystemExit({exit_code})\n",
        )
        return record

    return add_claude


def _home_files(tmp_path: Path) -> list[str]:
    home = tmp_path / "home"
    return sorted(str(p) for p in home.rglob("*")) if home.exists() else []


def test_runs_claude_mcp_add_when_claude_is_on_path(fake_path, tmp_path):
    record = fake_path()
    result = runner.invoke(app, ["mcp", "install"])
    assert result.exit_code == 0, result.output
    assert json.loads(record.read_text()) == ["mcp", "add", "headroom", "--", "headroom", "mcp"]
    assert "Running: claude mcp add headroom -- headroom mcp" in result.output
    assert "mcp__headroom__headroom_retrieve" in result.output
    assert _home_files(tmp_path) == []  # no config written by us


def test_scope_is_passed_to_claude(fake_path):
    record = fake_path()
    result = runner.invoke(mcp_app, ["install", "--scope", "user"])
    assert result.exit_code == 0, result.output
    assert json.loads(record.read_text()) == [
        "mcp",
        "add",
        "--scope",
        "user",
        "headroom",
        "--",
        "headroom",
        "mcp",
    ]
    assert runner.invoke(mcp_app, ["install", "--scope", "everywhere"]).exit_code == 2


def test_claude_failure_is_reported_with_its_exit_code(fake_path):
    fake_path(exit_code=3)
    result = runner.invoke(mcp_app, ["install"])
    assert result.exit_code == 3
    assert "failed (exit 3)" in result.output


def test_without_claude_prints_the_command_and_the_json_snippet(fake_path, tmp_path):
    result = runner.invoke(mcp_app, ["install"])
    assert result.exit_code == 0, result.output
    assert "not on PATH, so nothing was registered" in result.output
    assert "  claude mcp add headroom -- headroom mcp\n" in result.output
    snippet = json.loads(result.output[result.output.index("{") :])
    assert snippet == {"mcpServers": {"headroom": {"command": "headroom", "args": ["mcp"]}}}
    assert _home_files(tmp_path) == []


def test_print_only_runs_nothing(fake_path):
    record = fake_path()
    result = runner.invoke(mcp_app, ["install", "--print"])
    assert result.exit_code == 0
    assert not record.exists()
    assert "claude mcp add headroom -- headroom mcp" in result.output


def test_without_headroom_on_path_the_command_is_absolute(tmp_path, monkeypatch):
    from headroom_mcp._cli import server_command

    monkeypatch.setenv("PATH", str(tmp_path))  # neither claude nor headroom
    command = server_command()
    assert os.path.isabs(command[0]) and command[-1] in ("mcp", "headroom_mcp")


def test_help_lists_the_transport_and_install(monkeypatch):
    result = runner.invoke(app, ["mcp", "--help"])
    assert result.exit_code == 0
    assert "--transport" in result.output and "install" in result.output
