"""Starting (or joining) a Spark session for the co-occurrence stage, with one-line errors for
what people get wrong: PySpark or Java missing, a master that cannot be reached.

A session that is already running (inside ``spark-submit``, a notebook on a cluster, or passed
in by the caller) is used as it is and left running; a session started here is stopped when the
stage ends.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

from ..errors import AtlasError
from . import EngineParams

log = logging.getLogger(__name__)

#: Settings for a session started here on this machine, unless ``--spark-conf`` says otherwise.
LOCAL_DEFAULTS = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.driver.memory": "4g",
    "spark.sql.adaptive.enabled": "true",
}
#: Settings for every session started here.
DEFAULTS = {"spark.sql.execution.arrow.pyspark.enabled": "true", "spark.ui.showConsoleProgress": "false"}


def require_pyspark():
    """The ``pyspark`` module, or the error that says how to install it."""
    try:
        import pyspark
    except ImportError:
        raise AtlasError("--engine spark needs PySpark; install it with: pip install 'atlas-maps[spark]'.") from None
    return pyspark


def check_java() -> None:
    """Raise the one-line error when no Java runtime can be found (Spark runs on the JVM)."""
    home = os.environ.get("JAVA_HOME")
    if home:
        if not (Path(home) / "bin" / "java").exists():
            raise AtlasError(f"JAVA_HOME is {home!r} but holds no bin/java; point it at a Java 17 (or later) installation.")
        return
    if shutil.which("java") is None:
        raise AtlasError("--engine spark needs Java 17 or later, and no 'java' is on PATH (JAVA_HOME is not set either); install a JDK or set JAVA_HOME.")


def check_master(master: str, timeout: float = 3.0) -> None:
    """Fail early, in one line, when a ``spark://`` or ``k8s://`` master does not answer."""
    if master.startswith("local"):
        return
    if master == "yarn":
        if not (os.environ.get("HADOOP_CONF_DIR") or os.environ.get("YARN_CONF_DIR")):
            raise AtlasError("--spark-master yarn needs HADOOP_CONF_DIR or YARN_CONF_DIR to say where the cluster is; set one of them.")
        return
    if master.startswith("spark://"):
        hosts = master[len("spark://") :].split(",")
        default_port = 7077
    elif master.startswith("k8s://"):
        url = urlparse(master[len("k8s://") :])
        hosts = [url.netloc]
        default_port = 443
    else:
        raise AtlasError(f"unsupported Spark master {master!r}; use local[*], local[N], spark://host:port, yarn or k8s://https://host:port.")
    problems = []
    for host in hosts:
        name, _, port = host.rpartition(":") if ":" in host else (host, "", "")
        try:
            with socket.create_connection((name or host, int(port or default_port)), timeout=timeout):
                return
        except (OSError, ValueError) as exc:
            problems.append(f"{host}: {getattr(exc, 'strerror', None) or exc}")
    raise AtlasError(f"cannot reach the Spark master {master} ({'; '.join(problems)}); check --spark-master and that the master is running.")


def _builder_settings(engine: EngineParams) -> dict[str, str]:
    settings = dict(LOCAL_DEFAULTS if engine.master.startswith("local") else DEFAULTS)
    settings.update(engine.settings)
    return settings


@contextlib.contextmanager
def spark_session(engine: EngineParams, spark=None) -> Iterator:
    """A Spark session for ``engine``: ``spark`` when given, else the active one, else a new
    one (stopped on exit)."""
    require_pyspark()
    from pyspark.sql import SparkSession

    session = spark or SparkSession.getActiveSession()
    if session is not None:
        yield session
        return
    check_java()
    check_master(engine.master)
    if engine.master.startswith("local") and "PYSPARK_PYTHON" not in os.environ and "spark.pyspark.python" not in engine.settings:
        os.environ["PYSPARK_PYTHON"] = sys.executable  # the workers run the same Python (and atlas) as this process
    builder = SparkSession.builder.master(engine.master).appName("atlas co-occurrence")
    for key, value in _builder_settings(engine).items():
        builder = builder.config(key, value)
    try:
        session = builder.getOrCreate()
    except Exception as exc:  # the JVM did not start, or the cluster refused the application
        raise AtlasError(f"Spark did not start on {engine.master} ({first_line(exc)}); check Java, --spark-master and --spark-conf.") from None
    session.sparkContext.setLogLevel("ERROR")
    try:
        yield session
    finally:
        session.stop()


def first_line(exc: BaseException) -> str:
    """The first meaningful line of a (possibly Java) exception's message."""
    text = str(exc).strip()
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith(("JVM stacktrace", "at ", "Traceback")):
            return line[:300]
    return type(exc).__name__
