"""``sentikit.spark.score`` on a Spark Connect session, against a real Connect server.

The server is the one the installed PySpark ships (``bin/spark-submit`` with the Connect server's
class, its jar in ``pyspark/jars``), local[2], bound to 127.0.0.1 on a free port. The client runs in
a subprocess: a Connect session switches the whole process to Connect mode
(``SPARK_CONNECT_MODE_ENABLED``), which the classic-Spark tests sharing this pytest process must not see.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from conftest import free_port

pytestmark = pytest.mark.slow
CONNECT_CLASS = "org.apache.spark.sql.connect.service.SparkConnectServer"


@pytest.fixture(scope="module")
def connect_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``sc://127.0.0.1:PORT`` of a Spark Connect server whose Python workers run this interpreter."""
    import pyspark

    logs = tmp_path_factory.mktemp("spark-connect")
    port = free_port()
    submit = Path(pyspark.__file__).parent / "bin" / "spark-submit"
    env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1", "PYSPARK_PYTHON": sys.executable}
    with open(logs / "server.log", "wb") as log:
        server = subprocess.Popen(
            [str(submit), "--class", CONNECT_CLASS, "--master", "local[2]",
             "--conf", "spark.connect.grpc.binding.address=127.0.0.1", "--conf", f"spark.connect.grpc.binding.port={port}",
             "--conf", "spark.ui.enabled=false", "--conf", f"spark.pyspark.python={sys.executable}"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            if server.poll() is not None:
                pytest.fail(f"the Spark Connect server exited ({server.returncode}):\n{(logs / 'server.log').read_text()[-3000:]}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"no Spark Connect server on port {port} within 120 s:\n{(logs / 'server.log').read_text()[-3000:]}")
                time.sleep(0.5)
        yield f"sc://127.0.0.1:{port}"
    finally:
        os.killpg(server.pid, 15)  # spark-submit's process group: the launcher and its JVM
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, 9)
            server.wait()


CLIENT = textwrap.dedent("""
    import json, sys
    from pyspark.sql import SparkSession
    import sentikit.spark
    from sentikit.model import load_model
    from sentikit.spark.scoring import broadcast_model

    url, model_dir, texts = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    spark = SparkSession.builder.remote(url).getOrCreate()
    df = spark.createDataFrame([(i, t) for i, t in enumerate(texts)], "id LONG, text STRING").repartition(2)
    model = load_model(__import__("pathlib").Path(model_dir))
    shipped = type(broadcast_model(df, model)).__name__
    rows = sentikit.spark.score(df, model, threshold=0.5).orderBy("id").collect()
    print(json.dumps({"session": type(spark).__module__, "shipped": shipped,
                      "rows": [[r["id"], r["score"], r["label"]] for r in rows]}))
""")


def test_score_on_a_spark_connect_session_carries_the_model_in_the_function(connect_url: str, trained_model: Any) -> None:
    texts = ["Lovely host, spotless flat", "Dirty, noisy and the host never answered", "", "naïve café 😀", None,
             "I didn't like it", "ok I guess"] * 3
    done = subprocess.run([sys.executable, "-c", CLIENT, connect_url, str(trained_model.path), json.dumps(texts)],
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["session"] == "pyspark.sql.connect.session"
    assert result["shipped"] == "InlineFiles"  # no SparkContext on Connect: the closure path
    expected = trained_model.score([t for t in texts if t is not None])
    scored = [(score, label) for _, score, label in result["rows"] if score is not None]
    assert [i for i, score, _ in result["rows"] if score is None] == [i for i, t in enumerate(texts) if t is None]
    assert [s for s, _ in scored] == pytest.approx(expected, abs=1e-9)
    assert [label for _, label in scored] == ["positive" if s >= 0.5 else "negative" for s in expected]
