"""``atlas app``: serve the notebook app, and never share this computer's files by accident.

On this computer (``--host 127.0.0.1``, the default) the app reads and writes any path typed
into it, as a local tool does. On any other host it starts only with a file policy:
``--data-root DIR`` (typed paths must lie inside DIR) or ``--uploads-only`` (no typed paths at
all). Either way a random token guards the app unless ``--no-token`` is given; marimo reads it
from a pipe, so it never shows in the process list, and the address that carries it is printed.
"""

from __future__ import annotations

import argparse
import secrets
import subprocess
import sys
from pathlib import Path

from atlas.errors import AtlasError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 2718


def add_app_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default=DEFAULT_HOST, help=f"address to serve on (default {DEFAULT_HOST}, this computer only)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--data-root", metavar="DIR", help="visitors read and write files only inside DIR")
    mode.add_argument("--uploads-only", action="store_true", help="visitors upload their data and download exports; no paths")
    p.add_argument("--max-upload-mb", type=float, help="largest upload in megabytes (default 100)")
    p.add_argument("--no-token", action="store_true", help="serve without an access token (only sensible on this computer)")
    p.add_argument("--headless", action="store_true", help="do not open a browser (implied on a host other than this computer)")
    p.add_argument("app_options", nargs=argparse.REMAINDER, help="after --: options of the app itself, e.g. -- --input plays.csv")


def notebook_path(package_dir: Path | None = None) -> Path:
    """The app's notebook, ``notebooks/app.py`` beside the ``atlas`` package (``package_dir``)
    in a source checkout (an editable install); a wheel does not carry it."""
    package_dir = Path(__file__).resolve().parent.parent if package_dir is None else Path(package_dir)
    path = package_dir.parent / "notebooks" / "app.py"
    if not path.is_file():
        raise AtlasError(
            f"the app notebook is not at {path}; 'atlas app' runs from a source checkout "
            "(install it with 'pip install -e .' in the repository)."
        )
    return path


def startup_problem(host: str, *, data_root: str | None, uploads_only: bool) -> str | None:
    """Why the app must not start on ``host`` with this policy, or None."""
    from .access import CHOOSE_A_MODE, is_loopback

    if is_loopback(host) or data_root or uploads_only:
        return None
    return f"--host {host} shares this app beyond this computer, and with it every file the server can read: add {CHOOSE_A_MODE}."


def app_access(args: argparse.Namespace):
    """The ``Access`` policy the flags ask for (checked now, so that a bad root stops the start)."""
    from .access import Access

    settings = {"data_root": args.data_root, "uploads_only": args.uploads_only, "max_upload_mb": args.max_upload_mb}
    return Access.from_settings(settings)


def marimo_command(args: argparse.Namespace, notebook: Path, access, *, token: bool) -> list[str]:
    """The ``marimo run`` command line; the token itself is passed on stdin, not here."""
    from .access import is_loopback

    command = [sys.executable, "-m", "marimo", "run", str(notebook), "--host", args.host, "--port", str(args.port)]
    if args.headless or not is_loopback(args.host):
        command.append("--headless")
    command += ["--token-password-file", "-"] if token else ["--no-token"]
    options = [option for option in args.app_options if option != "--"] if args.app_options[:1] == ["--"] else list(args.app_options)
    if access.mode == "root":
        options += ["--data-root", str(access.root)]
    elif access.mode == "uploads-only":
        options.append("--uploads-only")
    if args.max_upload_mb is not None:
        options += ["--max-upload-mb", f"{args.max_upload_mb:g}"]
    return command + (["--", *options] if options else [])


def _url(host: str, port: int, token: str | None) -> str:
    shown = f"[{host}]" if ":" in host and not host.startswith("[") else host
    return f"http://{shown}:{port}" + (f"?access_token={token}" if token else "")


def cmd_app(args: argparse.Namespace) -> int:
    problem = startup_problem(args.host, data_root=args.data_root, uploads_only=args.uploads_only)
    if problem:
        raise AtlasError(problem)
    access = app_access(args)
    notebook = notebook_path()
    token = None if args.no_token else secrets.token_urlsafe(24)
    command = marimo_command(args, notebook, access, token=token is not None)
    print(f"atlas app at {_url(args.host, args.port, token)} — {access.summary()}", flush=True)
    process = subprocess.Popen(command, stdin=subprocess.PIPE if token else None)
    if token:
        process.stdin.write(token.encode() + b"\n")
        process.stdin.close()
    try:
        return process.wait()
    except KeyboardInterrupt:  # marimo got the same signal and shuts down
        return process.wait()
