"""What Spark needs on this machine (PySpark, Arrow, Java), checked with a clear error, and the session.

Nothing here imports PySpark at module import time: ``sentikit`` stays importable (and the serving
image stays free of it) without the ``spark`` extra.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Mapping, Optional
from urllib.parse import urlparse

from ..errors import EnvironmentNotReadyError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

MIN_PYSPARK = (3, 5)
INSTALL_HINT = "pip install 'sentikit[spark]'"
# Spark 4 is built for Java 17; Spark 3.5 runs on 8, 11 and 17.
_JAVA_FOR_SPARK = {3: 8, 4: 17}
_JAVA_VERSION = re.compile(r'version "(\d+)(?:\.(\d+))?')


def require_pyspark() -> ModuleType:
    """Import PySpark (>= 3.5) and the Arrow libraries its Arrow path needs, or say how to install them.

    Raises:
        EnvironmentNotReadyError: one of them is missing or too old.
    """
    try:
        import pyspark
    except ImportError:
        raise EnvironmentNotReadyError(f"PySpark is not installed: {INSTALL_HINT}") from None
    if _version(pyspark.__version__) < MIN_PYSPARK:
        raise EnvironmentNotReadyError(
            f"PySpark {pyspark.__version__} is too old (sentikit needs >= 3.5): {INSTALL_HINT} --upgrade"
        )
    for name in ("pyarrow", "pandas"):
        try:
            __import__(name)
        except ImportError:
            raise EnvironmentNotReadyError(f"{name} is not installed (PySpark's Arrow path needs it): {INSTALL_HINT}") from None
    return pyspark


def java_executable(environ: Optional[Mapping[str, str]] = None) -> str:
    """The ``java`` Spark's launcher will run (``$JAVA_HOME/bin/java``, else ``java`` on PATH),
    checked to be recent enough for the installed PySpark.

    Raises:
        EnvironmentNotReadyError: no Java runtime, or one too old for this Spark.
    """
    environ = os.environ if environ is None else environ
    java_home = environ.get("JAVA_HOME")
    if java_home:
        java: Optional[str] = str(Path(java_home) / "bin" / "java")
        if not os.access(java, os.X_OK):  # type: ignore[arg-type]
            raise EnvironmentNotReadyError(f"JAVA_HOME={java_home} has no bin/java: point it at a Java 17+ runtime")
    else:
        java = shutil.which("java", path=environ.get("PATH"))
    hint = "install a Java 17 runtime (Debian/Ubuntu: apt-get install openjdk-17-jre-headless) or set JAVA_HOME"
    if java is None:
        raise EnvironmentNotReadyError(f"Spark needs Java, and none was found: {hint}")
    try:
        probe = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise EnvironmentNotReadyError(f"{java} -version failed ({exc}): {hint}") from None
    found = _JAVA_VERSION.search(probe.stderr + probe.stdout)
    if probe.returncode != 0 or not found:
        raise EnvironmentNotReadyError(f"{java} does not run as a Java runtime: {hint}")
    major = int(found.group(1)) if found.group(1) != "1" else int(found.group(2) or 0)  # "1.8.0" is Java 8
    import pyspark

    needed = _JAVA_FOR_SPARK.get(_version(pyspark.__version__)[0], 17)
    if major < needed:
        raise EnvironmentNotReadyError(f"PySpark {pyspark.__version__} needs Java {needed}+, found Java {major} at {java}: {hint}")
    return java


def build_session(master: Optional[str] = None, *, app_name: str = "sentikit", conf: Optional[Mapping[str, str]] = None) -> "SparkSession":
    """A SparkSession for ``master`` (default ``local[*]``) whose Python workers run this interpreter.

    Executors must import sentikit, so their Python is ``sys.executable`` (the venv sentikit is
    installed in) unless ``PYSPARK_PYTHON`` or ``spark.pyspark.python`` says otherwise. On a local master the driver binds to 127.0.0.1 and the web
    UI is off. Raises :class:`EnvironmentNotReadyError` when PySpark or Java is missing or the JVM
    does not start.
    """
    require_pyspark()
    java_executable()
    from pyspark.sql import SparkSession

    master = master or "local[*]"
    builder = SparkSession.builder.master(master).appName(app_name)
    settings = {
        "spark.ui.showConsoleProgress": "false",  # sentikit shows its own progress bar
        "spark.sql.execution.arrow.pyspark.enabled": "true",
    }
    if _is_loopback(master):
        settings.update({"spark.driver.host": "127.0.0.1", "spark.driver.bindAddress": "127.0.0.1", "spark.ui.enabled": "false"})
    log_config = Path(__file__).with_name("log4j2.properties")
    if log_config.is_file():
        settings["spark.driver.extraJavaOptions"] = f"-Dlog4j2.configurationFile={log_config.as_uri()}"
    settings.update(conf or {})
    for key, value in settings.items():
        builder = builder.config(key, value)
    try:
        session = builder.getOrCreate()
    except Exception as exc:  # PySparkRuntimeError (JAVA_GATEWAY_EXITED), Py4JError, ...
        raise EnvironmentNotReadyError(f"Spark did not start on master {master}: {first_line(exc)}") from None
    context = session.sparkContext
    if not os.environ.get("PYSPARK_PYTHON") and not (conf or {}).get("spark.pyspark.python"):
        # PySpark sends the workers' interpreter with each Python function (SparkContext.pythonExec,
        # read from PYSPARK_PYTHON, else plain `python3`, which lacks sentikit outside a venv).
        context.pythonExec = sys.executable
    context.setLogLevel("ERROR")
    return session


def _is_loopback(master: str) -> bool:
    if master.startswith("local"):
        return True
    host = urlparse(master).hostname or ""
    return host in ("127.0.0.1", "localhost", "::1")


def _version(text: str) -> tuple[int, int]:
    numbers = [int(n) for n in re.findall(r"\d+", text)[:2]] + [0, 0]
    return numbers[0], numbers[1]


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (Spark's run to many lines, with JVM stacks)."""
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]
