"""The wheel works outside the checkout: built, installed into a fresh venv, run from an empty folder."""

from __future__ import annotations

import json
import os
import site
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(args: list[str], cwd: Path, timeout: float = 600, **extra_env: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SENTIKIT_", "PYTHON", "VIRTUAL_ENV"))}
    env.update(extra_env)
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{args} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
    return result


@pytest.mark.slow
def test_wheel_installed_outside_the_checkout_trains_scores_and_renders(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(dist), str(ROOT)], cwd=tmp_path)
    (wheel,) = dist.glob("sentikit-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "sentikit/resources/corpus.tsv.gz" in names
    assert any(name.endswith("templates/Dockerfile.template") for name in names)

    # A fresh venv that sees this venv's third-party packages through a path line in a .pth file
    # (installing scikit-learn & co. again takes about a minute). A path line does not run the
    # editable install's own .pth hook, so `sentikit` can only come from the wheel installed here.
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=tmp_path)
    python = venv / "bin" / "python"
    own_site = Path(_run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=tmp_path).stdout.strip())
    (own_site / "_deps_from_test_runner.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps", "--no-index", str(wheel)], cwd=tmp_path)

    empty = tmp_path / "empty"
    empty.mkdir()
    where = _run([str(python), "-c", "import sentikit; print(sentikit.__file__)"], cwd=empty).stdout.strip()
    assert Path(where).is_relative_to(own_site), where
    sentikit = str(venv / "bin" / "sentikit")

    # Word n-grams only: the same bundled corpus, a faster fit.
    trained = json.loads(_run([sentikit, "train", "--param", "char_ngrams=null", "--json"], cwd=empty).stdout)
    from sentikit.data import load_dataset  # the checkout's copy of the same corpus, for its row count

    corpus_rows = len(load_dataset([ROOT / "src" / "sentikit" / "resources" / "corpus.tsv.gz"]))
    assert trained["train_rows"] + trained["validation_rows"] == corpus_rows
    manifest = json.loads((empty / "models" / "sentiment" / "1" / "manifest.json").read_text())
    (source,) = manifest["data"]["files"]
    assert source["path"] == "sentikit:resources/corpus.tsv.gz"  # not this venv's site-packages path
    reread = _run([str(python), "-c", "import sys; from sentikit.data import load_dataset; "
                   "d = load_dataset([sys.argv[1]]); print(d.files[0].sha256, len(d))", source["path"]], cwd=empty)
    assert reread.stdout.split() == [source["sha256"], str(corpus_rows)]

    scored = _run([sentikit, "score", "What a wonderful, delightful film."], cwd=empty)
    value, label = scored.stdout.split()
    assert 0.5 < float(value) <= 1.0 and label == "positive"

    # The wheelhouse cache (~/.cache/sentikit) is shared with the Docker build tests: building it from
    # scratch here as well costs ~50 s for no extra coverage of the wheel itself.
    _run([sentikit, "build", "--render-only", "ctx"], cwd=empty)
    dockerfile = (empty / "ctx" / "Dockerfile").read_text()
    assert "FROM " in dockerfile
    assert (empty / "ctx" / "model").is_dir()
    assert list((empty / "ctx").glob("**/sentikit-*.whl")), "the context carries the installed sentikit, re-packed"
    assert not (empty / "data").exists()  # nothing came from (or was put in) a data/ folder here


def test_package_files_are_recorded_and_read_as_sentikit_references(tmp_path: Path) -> None:
    from sentikit.data.sources import portable_data_path, resolve_data_path
    from sentikit.errors import DataError

    packaged = ROOT / "src" / "sentikit" / "resources" / "vader_lexicon.txt"
    assert portable_data_path(str(packaged)) == "sentikit:resources/vader_lexicon.txt"
    assert resolve_data_path("sentikit:resources/vader_lexicon.txt") == packaged.resolve()
    assert portable_data_path(str(Path.cwd() / "mine.csv")) == "mine.csv"
    assert portable_data_path(str(tmp_path / "elsewhere.csv")) == str(tmp_path / "elsewhere.csv")
    for bad in ("sentikit:", "sentikit:../pyproject.toml", "sentikit:/etc/passwd"):
        with pytest.raises(DataError, match="not a file of the sentikit package"):
            resolve_data_path(bad)
