"""``atlas app``: the launcher refuses to share files by accident and guards the app with a token.
No test here starts a server: ``subprocess.Popen`` is replaced where the launcher would call it."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest

from atlas.app import server as app_server
from atlas.cli import main
from atlas.errors import AtlasError

ROOT = Path(__file__).resolve().parents[1]


class Stdin(io.BytesIO):
    def close(self) -> None:
        self.sent = self.getvalue()
        super().close()


class FakeMarimo:
    """Stands in for ``subprocess.Popen``: records the command and what went to its stdin."""

    started: list[FakeMarimo] = []

    def __init__(self, command, stdin=None) -> None:
        self.command = command
        self.stdin = Stdin() if stdin is subprocess.PIPE else None
        FakeMarimo.started.append(self)

    def wait(self) -> int:
        return 0


@pytest.fixture()
def fake_marimo(monkeypatch):
    FakeMarimo.started = []
    monkeypatch.setattr(app_server.subprocess, "Popen", FakeMarimo)
    return FakeMarimo.started


def test_another_host_without_a_mode_is_refused_in_one_line():
    proc = subprocess.run([sys.executable, "-m", "atlas.cli", "app", "--host", "0.0.0.0"], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 2
    assert proc.stdout == ""  # nothing started, no address printed
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: --host 0.0.0.0 shares this app beyond this computer")
    assert "add --data-root DIR" in lines[0] and "or --uploads-only" in lines[0]


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.2", "atlas.example.org"])
def test_no_server_starts_on_a_shared_host_without_a_mode(host, fake_marimo, capsys):
    assert main(["app", "--host", host]) == 2
    assert fake_marimo == []
    assert "add --data-root DIR" in capsys.readouterr().err


def test_a_missing_data_root_stops_the_start(tmp_path, fake_marimo, capsys):
    assert main(["app", "--host", "0.0.0.0", "--data-root", str(tmp_path / "missing")]) == 2
    assert fake_marimo == []
    assert "does not exist; create the folder" in capsys.readouterr().err


def test_local_use_starts_with_a_random_token_passed_on_stdin(fake_marimo, capsys):
    assert main(["app", "--port", "2999"]) == 0
    (marimo,) = fake_marimo
    command = marimo.command
    assert command[:4] == [sys.executable, "-m", "marimo", "run"]
    assert Path(command[4]) == ROOT / "notebooks" / "app.py"
    assert command[5:9] == ["--host", "127.0.0.1", "--port", "2999"]
    assert "--headless" not in command and "--" not in command
    assert command[command.index("--token-password-file") + 1] == "-"
    token = marimo.stdin.sent.decode().strip()
    assert len(token) >= 24 and not any(token in part for part in command)
    out = capsys.readouterr().out
    assert f"http://127.0.0.1:2999?access_token={token}" in out
    assert "any path on this computer" in out
    main(["app"])
    assert fake_marimo[1].stdin.sent.decode().strip() != token  # a new token each start


def test_a_shared_app_passes_its_policy_to_the_notebook(tmp_path, fake_marimo, capsys):
    assert main(["app", "--host", "0.0.0.0", "--data-root", str(tmp_path), "--max-upload-mb", "5"]) == 0
    command = fake_marimo[0].command
    assert "--headless" in command
    assert command[command.index("--") :] == ["--", "--data-root", str(tmp_path.resolve()), "--max-upload-mb", "5"]
    assert f"only inside {tmp_path.resolve()}" in capsys.readouterr().out

    assert main(["app", "--host", "0.0.0.0", "--uploads-only", "--no-token", "--", "--input", "plays.csv", "--seed", "3"]) == 0
    command = fake_marimo[1].command
    assert "--no-token" in command and "--token-password-file" not in command and fake_marimo[1].stdin is None
    assert command[command.index("--") :] == ["--", "--input", "plays.csv", "--seed", "3", "--uploads-only"]
    assert "http://0.0.0.0:2718 " in capsys.readouterr().out


def test_both_modes_at_once_are_refused(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["app", "--data-root", str(tmp_path), "--uploads-only"])
    assert "not allowed with argument" in capsys.readouterr().err


def test_the_notebook_is_found_beside_the_package_or_named_when_missing(tmp_path):
    assert app_server.notebook_path() == ROOT / "notebooks" / "app.py"
    with pytest.raises(AtlasError, match="the app notebook is not at .*'atlas app' runs from a source checkout"):
        app_server.notebook_path(tmp_path / "atlas")
