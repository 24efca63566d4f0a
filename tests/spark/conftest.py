"""A real Spark for the tests: local mode, and a standalone cluster (master + worker) on 127.0.0.1.

The cluster is started with the launcher PySpark ships (``pyspark/bin/spark-class``), bound to
127.0.0.1 (``--host`` and ``SPARK_LOCAL_IP``, which the web UIs bind to), and stopped at the end of the
session. A process holds one SparkContext at a time, so ``spark`` is one session-scoped fixture with a
parameter per mode: pytest runs every test of one mode, stops that session, then starts the next.
Executors run this interpreter (``build_session`` points ``pythonExec`` at ``sys.executable``).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pytest

from conftest import free_port
from sentikit.spark import build_session

MODES = ["local", "cluster"]


@dataclass
class Cluster:
    master_url: str
    ui_url: str
    logs: Path


def _spark_class() -> Path:
    import pyspark

    return Path(pyspark.__file__).parent / "bin" / "spark-class"


def _start(args: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    handle = open(log, "wb")
    # spark-class execs java: the Popen pid is the JVM, stopped by that pid at teardown
    return subprocess.Popen([str(_spark_class()), *args], stdout=handle, stderr=subprocess.STDOUT, env=env,
                            stdin=subprocess.DEVNULL, start_new_session=True)


def _alive_workers(ui_url: str) -> int:
    try:
        with urllib.request.urlopen(f"{ui_url}/json/", timeout=2) as response:
            state = json.load(response)
    except OSError:
        return 0
    return sum(1 for worker in state.get("workers", []) if worker.get("state") == "ALIVE")


@pytest.fixture(scope="session")
def standalone_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A Spark standalone master and one worker (2 cores, 2 GB) on 127.0.0.1."""
    logs = tmp_path_factory.mktemp("spark-cluster")
    env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1", "SPARK_NO_DAEMONIZE": "1"}
    port, ui_port, worker_ui = free_port(), free_port(), free_port()
    master_url, ui_url = f"spark://127.0.0.1:{port}", f"http://127.0.0.1:{ui_port}"
    processes = [_start(["org.apache.spark.deploy.master.Master", "--host", "127.0.0.1", "--port", str(port),
                         "--webui-port", str(ui_port)], logs / "master.log", env)]
    try:
        processes.append(_start(["org.apache.spark.deploy.worker.Worker", master_url, "--host", "127.0.0.1",
                                 "--cores", "2", "--memory", "2g", "--webui-port", str(worker_ui),
                                 "--work-dir", str(logs / "work")], logs / "worker.log", env))
        deadline = time.monotonic() + 120
        while _alive_workers(ui_url) < 1:
            for process, name in zip(processes, ("master", "worker")):
                if process.poll() is not None:
                    pytest.fail(f"Spark {name} exited ({process.returncode}):\n{(logs / f'{name}.log').read_text()[-3000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"no Spark worker registered within 120 s:\n{(logs / 'worker.log').read_text()[-3000:]}")
            time.sleep(0.5)
        yield Cluster(master_url, ui_url, logs)
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture(scope="session", params=MODES)
def spark(request: pytest.FixtureRequest) -> Iterator[Any]:
    """A SparkSession in local mode (``local[2]``) or on the standalone cluster."""
    if request.param == "local":
        session = build_session("local[2]", app_name="sentikit-tests")
    else:
        cluster = request.getfixturevalue("standalone_cluster")
        session = build_session(cluster.master_url, app_name="sentikit-tests",
                                conf={"spark.cores.max": "2", "spark.executor.memory": "1g"})
    session.conf.set("spark.sql.shuffle.partitions", "4")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def parity_texts() -> list[str]:
    """10,000 distinct real texts from the bundled corpus, plus edge cases the engine must get right."""
    from _datasets import corpus_rows

    texts = list(dict.fromkeys(text for source in ("books", "dvd", "electronics", "kitchen", "uci-amazon", "uci-yelp", "uci-imdb", "sst2")
                               for text, _label in corpus_rows(source)))
    edge = ["", " ", "Not good. NOT GOOD!!!", "naïve café — déjà vu 😀", "a" * 5000, "tab\there\nnewline", "I didn't like it"]
    return edge + texts[: 10_000 - len(edge)]
