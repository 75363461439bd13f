"""Where the app may read and write files, so that it can be served to other people.

An ``Access`` policy is one of four modes:

* ``local`` — today's app on one's own computer: typed paths are read and written as given;
* ``root`` — typed paths are resolved (symlinks included) and must lie inside one folder, the
  data root; relative paths start there, and exports are written only inside it;
* ``uploads-only`` — no typed paths at all: data arrives as size-capped uploads and exports
  leave as a browser download;
* ``locked`` — the app is reached from another computer but was started without a policy: it
  reads and writes no file a visitor names, and says how to restart it.

Every refusal is an ``AtlasError`` with one line that names the path and what to do instead.
The checks resolve a path before they decide, and the callers read or write the resolved path,
so a symlink cannot lead a checked path somewhere else.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from atlas.errors import AtlasError, check_choice

MODES = ("local", "root", "uploads-only", "locked")
DEFAULT_MAX_UPLOAD_MB = 100.0
DEFAULT_EXPORT_FOLDER = "atlas-out"
# Headers a reverse proxy adds: their presence means the visitor is not on this computer.
PROXY_HEADERS = ("forwarded", "x-forwarded-for", "x-forwarded-host", "x-real-ip")
CHOOSE_A_MODE = "--data-root DIR (visitors read and write only inside DIR) or --uploads-only (visitors upload files and download exports)"


@dataclass(frozen=True)
class Access:
    """The file policy of one app session (see the module's description of the modes)."""

    mode: str = "local"
    root: Path | None = None
    max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB

    def __post_init__(self) -> None:
        check_choice("the access mode", self.mode, MODES)
        if isinstance(self.max_upload_mb, bool) or not isinstance(self.max_upload_mb, (int, float)) or not self.max_upload_mb > 0:
            raise AtlasError(f"--max-upload-mb must be a positive number of megabytes, got {self.max_upload_mb!r}.")
        if self.mode != "root":
            if self.root is not None:
                raise AtlasError(f"a data root goes only with the 'root' mode, not {self.mode!r}.")
            return
        if self.root is None or not str(self.root).strip():
            raise AtlasError("--data-root needs a folder: give --data-root DIR.")
        _no_nul(str(self.root), "--data-root")
        given = Path(self.root).expanduser()
        try:
            root = given.resolve(strict=True)
        except (OSError, RuntimeError):
            raise AtlasError(f"--data-root {str(given)!r} does not exist; create the folder or choose another.") from None
        if not root.is_dir():
            raise AtlasError(f"--data-root {str(given)!r} is not a folder; give the folder that holds the data.")
        object.__setattr__(self, "root", root)

    @classmethod
    def from_settings(cls, settings: Mapping[str, object]) -> Access:
        """The policy that the app's options ask for (``--data-root``, ``--uploads-only``)."""
        root, uploads_only = settings.get("data_root"), bool(settings.get("uploads_only"))
        limit = settings.get("max_upload_mb")
        limit = DEFAULT_MAX_UPLOAD_MB if limit is None else limit
        if root and uploads_only:
            raise AtlasError("give --data-root or --uploads-only, not both.")
        if uploads_only:
            return cls("uploads-only", max_upload_mb=limit)
        return cls("root", Path(str(root)), max_upload_mb=limit) if root else cls(max_upload_mb=limit)

    @property
    def reads_paths(self) -> bool:
        """Whether the page offers boxes for typed paths (and a folder to export into)."""
        return self.mode in ("local", "root")

    @property
    def takes_uploads(self) -> bool:
        return self.mode != "locked"

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1_000_000)

    def resolve_read(self, text: str | None) -> str | None:
        """The file to read for a typed path (None when the box is empty)."""
        text = (text or "").strip()
        if not text:
            return None
        _no_nul(text, "the path")
        if self.mode == "local":
            return text
        if self.mode != "root":
            raise AtlasError(f"this app reads no typed paths ({text!r}); upload the file instead.")
        path = self._inside(text)
        try:
            found = path.exists()
        except OSError:
            found = False
        if not found:
            raise AtlasError(f"no file {text!r} inside the data root {str(self.root)!r}; paths are relative to it.")
        return str(path)

    def resolve_write(self, text: str | None) -> Path:
        """The folder to export into for a typed folder."""
        text = (text or "").strip()
        if not text:
            raise AtlasError("no export folder: type a folder name, or use the download button.")
        _no_nul(text, "the export folder")
        if self.mode == "local":
            return Path(text).expanduser()
        if self.mode != "root":
            raise AtlasError("this app writes no files on the server; use the download button to get the export.")
        path = self._inside(text)
        if path == self.root:
            # The export is staged in a folder beside its target, which would lie outside the root.
            raise AtlasError(f"export into a folder inside the data root, not the root itself; give a name such as {DEFAULT_EXPORT_FOLDER!r}.")
        return path

    def check_upload(self, name: str, size: int) -> None:
        """Refuse an upload above the cap (the browser refuses it first; this is the server's word)."""
        if size > self.max_upload_bytes:
            raise AtlasError(
                f"the upload {name!r} is {size / 1e6:.1f} MB, over this app's limit of {self.max_upload_mb:g} MB; "
                "upload a smaller file or ask whoever runs the app to raise --max-upload-mb."
            )

    def default_export_folder(self, preset: str | None, name: str | None = None) -> str:
        """What the export folder box starts with: ``--out`` when the app was started with it,
        else ``atlas-out/<name>`` (``exports.export_name``: the data and the layout), under the
        working folder on one's own computer, relative to the data root when served."""
        if preset:
            return preset
        folder = Path(DEFAULT_EXPORT_FOLDER, name) if name else Path(DEFAULT_EXPORT_FOLDER)
        return str(Path.cwd() / folder) if self.mode == "local" else str(folder)

    def summary(self) -> str:
        """One line for the page and the launcher: where this app reads and writes."""
        cap = f"uploads up to {self.max_upload_mb:g} MB"
        return {
            "local": f"files: any path on this computer (for local use only), {cap}",
            "root": f"files: only inside {self.root} (typed paths are relative to it), {cap}",
            "uploads-only": f"files: {cap} only; exports come as a download",
            "locked": f"files: none — reached from another computer without a file policy; restart with {CHOOSE_A_MODE}",
        }[self.mode]

    def _inside(self, text: str) -> Path:
        """``text`` resolved against the root, symlinks included, or an error when it leaves it."""
        path = Path(text)
        if not path.is_absolute():
            path = self.root / path
        try:
            resolved = path.resolve(strict=False)
        except (OSError, RuntimeError):  # a symlink loop
            raise AtlasError(f"cannot resolve {text!r} (a symlink loop?); give a plain path inside the data root.") from None
        if not resolved.is_relative_to(self.root):
            raise AtlasError(f"{text!r} lies outside the data root {str(self.root)!r}; give a path inside it.")
        return resolved


def _no_nul(text: str, what: str) -> None:
    """No file name holds a NUL byte (the system refuses it with a ValueError, not an OSError)."""
    if "\x00" in text:
        raise AtlasError(f"{what} {text!r} holds a NUL byte, which no file name can; type the path again.")


def is_loopback(host: str | None) -> bool:
    """Whether ``host`` (a name or an address, IPv6 with or without brackets) is this computer."""
    if not host:
        return False
    host = host.strip().strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def request_is_remote(request: Mapping | None) -> bool:
    """Whether the visitor behind marimo's request (``mo.app_meta().request``) may be on
    another computer: it came through a proxy, or names a host that is not loopback.

    No request at all is a script run on this computer.
    """
    if request is None:
        return False
    headers = {str(k).lower(): str(v) for k, v in (request["headers"] or {}).items()}
    if any(name in headers for name in PROXY_HEADERS):
        return True
    url = request["url"] or {}
    hosts = [url.get("hostname")]
    if "host" in headers:
        hosts.append(urlsplit("//" + headers["host"]).hostname)
    if headers.get("origin", "null") != "null":
        hosts.append(urlsplit(headers["origin"]).hostname)
    hosts = [h for h in hosts if h]
    return not hosts or not all(is_loopback(h) for h in hosts)


def listening_addresses() -> list[str] | None:
    """The addresses this process listens on (the app server, when it runs in-process), or
    None when they cannot be read."""
    try:
        import psutil

        process = psutil.Process()
        connections = getattr(process, "net_connections", None) or process.connections
        return [c.laddr.ip for c in connections(kind="inet") if c.status == psutil.CONN_LISTEN]
    except Exception:  # noqa: BLE001 - psutil missing or not allowed: rely on the request alone
        return None


def visitor_access(
    settings: Mapping[str, object],
    request: Mapping | None,
    *,
    listening: Iterable[str] | None = (),
    problems: list[str] | None = None,
) -> Access:
    """The policy for one visitor: the one asked for, locked when none was asked for and the
    app is served beyond this computer (``listening``) or reached from elsewhere (``request``).

    A policy that cannot be built (a missing data root) locks the app; its message goes to
    ``problems`` when given, else the ``AtlasError`` is raised.
    """
    try:
        access = Access.from_settings(settings)
    except AtlasError as exc:
        if problems is None:
            raise
        problems.append(str(exc))
        return Access("locked")
    shared = request_is_remote(request) or any(not is_loopback(address) for address in listening or ())
    if access.mode == "local" and shared:
        return Access("locked", max_upload_mb=access.max_upload_mb)
    return access


def access_note(access: Access):
    """The line at the top of the app that says which policy is in force."""
    import marimo as mo

    if access.mode == "locked":
        return mo.callout(
            mo.md(
                "**This app reads and writes no files.** It is reached from another computer but was started "
                "without a file policy: restart it with `--data-root DIR` (visitors read and write only inside DIR) "
                "or `--uploads-only`, e.g. `atlas app --host 0.0.0.0 --uploads-only`."
            ),
            kind="danger",
        )
    cap = f"uploads up to {access.max_upload_mb:g} MB"
    line = {
        "local": f"**Files:** any path on this computer, for local use; {cap}. To share the app, serve it with `atlas app --data-root DIR` or `--uploads-only`.",
        "root": f"**Files:** only inside `{access.root}` — typed paths are relative to it; {cap}.",
        "uploads-only": f"**Files:** {cap}; exports come as a download.",
    }[access.mode]
    return mo.md(line)
