"""Output files: written completely or not at all, and never renamed over a device, pipe or socket."""

from __future__ import annotations

import os
import socket
import stat
import threading
from pathlib import Path

import pytest

from sentikit._atomic import atomic_output
from sentikit.errors import OutputError

POSTS = 'id,text\n1,"What a wonderful, delightful film."\n2,"Dreadful. A waste of money."\n'


def _char_device(path: Path, major: int, minor: int) -> Path:
    """A character device node of our own (never touching /dev): 1,3 is null, 1,7 is full."""
    os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(major, minor))
    return path


@pytest.fixture
def posts(tmp_path: Path) -> Path:
    path = tmp_path / "posts.csv"
    path.write_text(POSTS, encoding="utf-8")
    return path


def test_score_to_a_full_device_fails_and_leaves_the_device(cli, trained_model_dir: Path, posts: Path, tmp_path: Path) -> None:
    full = _char_device(tmp_path / "full", 1, 7)
    result = cli("score", "--input", str(posts), "-o", str(full), "-m", str(trained_model_dir))
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [f"error: {full}: cannot write (No space left on device)"]
    assert stat.S_ISCHR(full.stat().st_mode)  # still the device, not a file of scores
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left


def test_score_to_a_null_device_writes_through_it(cli, trained_model_dir: Path, posts: Path, tmp_path: Path) -> None:
    null = _char_device(tmp_path / "null", 1, 3)
    result = cli("score", "--input", str(posts), "-o", str(null), "-m", str(trained_model_dir))
    assert result.exit_code == 0, result.stderr
    assert stat.S_ISCHR(null.stat().st_mode)


def test_score_to_a_named_pipe_streams_into_it(cli, trained_model_dir: Path, posts: Path, tmp_path: Path) -> None:
    fifo = tmp_path / "scores.fifo"
    os.mkfifo(fifo)
    received: list[str] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_text(encoding="utf-8")), daemon=True)
    reader.start()
    result = cli("score", "--input", str(posts), "-o", str(fifo), "-m", str(trained_model_dir))
    reader.join(30)
    assert result.exit_code == 0, result.stderr
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    lines = received[0].splitlines()
    assert lines[0] == "id,text,score,label" and lines[1].endswith(",positive") and lines[2].endswith(",negative")


def test_sockets_and_directories_are_refused(cli, trained_model_dir: Path, posts: Path, tmp_path: Path) -> None:
    path = tmp_path / "s.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    try:
        result = cli("score", "--input", str(posts), "-o", str(path), "-m", str(trained_model_dir))
        assert result.exit_code == 2
        assert result.stderr.strip() == f"error: {path}: a socket; sentikit writes only to files, character devices and pipes"
        assert stat.S_ISSOCK(path.stat().st_mode)
    finally:
        server.close()
    folder = tmp_path / "out"
    folder.mkdir()
    result = cli("score", "--input", str(posts), "-o", str(folder), "-m", str(trained_model_dir))
    assert result.exit_code == 2 and result.stderr.strip() == f"error: {folder}: a directory; give a file name inside it"
    missing = tmp_path / "nowhere" / "x.csv"
    result = cli("score", "--input", str(posts), "-o", str(missing), "-m", str(trained_model_dir))
    assert result.exit_code == 2 and "does not exist" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "report.txt"
    target.write_text("old", encoding="utf-8")
    target.chmod(0o640)
    with pytest.raises(RuntimeError):
        with atomic_output(target) as handle:
            handle.write("half")
            raise RuntimeError("the scorer died")
    assert target.read_text() == "old"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    with atomic_output(target) as handle:
        handle.write("new")
    assert target.read_text() == "new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640  # the replaced file keeps its permissions


def test_a_new_file_gets_the_umask_and_a_symlink_stays_a_link(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        with atomic_output(tmp_path / "new.bin", binary=True) as handle:
            handle.write(b"\x00\x01")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "new.bin").stat().st_mode) == 0o640
    real = tmp_path / "real.txt"
    real.write_text("old")
    link = tmp_path / "link.txt"
    link.symlink_to(real.name)
    with atomic_output(link) as handle:
        handle.write("through the link")
    assert link.is_symlink() and real.read_text() == "through the link"


def test_openapi_output_uses_the_same_writer(cli, tmp_path: Path) -> None:
    full = _char_device(tmp_path / "full", 1, 7)
    result = cli("openapi", "--output", str(full))
    assert result.exit_code == 2 and result.stderr.strip() == f"error: {full}: cannot write (No space left on device)"
    assert stat.S_ISCHR(full.stat().st_mode)
    with pytest.raises(OutputError, match="permission denied|cannot write"):
        with atomic_output("/proc/sentikit-test.json") as handle:
            handle.write("{}")


def test_evaluate_report_files_are_readable_and_a_file_is_not_a_report_folder(
    cli, trained_model_dir: Path, small_training_file: Path, tmp_path: Path
) -> None:
    old = os.umask(0o022)
    try:
        result = cli("evaluate", str(small_training_file), "-m", str(trained_model_dir), "--report", str(tmp_path / "report"))
    finally:
        os.umask(old)
    assert result.exit_code == 0, result.stderr
    for name in ("index.html", "roc.png"):
        assert stat.S_IMODE((tmp_path / "report" / name).stat().st_mode) == 0o644  # was mkstemp's 0600
    assert (tmp_path / "report" / "roc.png").read_bytes().startswith(b"\x89PNG")
    taken = tmp_path / "taken"
    taken.write_text("not a folder")
    result = cli("evaluate", str(small_training_file), "-m", str(trained_model_dir), "--report", str(taken))
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [f"error: {taken}: exists and is not a directory"]


@pytest.mark.slow
def test_dev_stdout_appended_to_a_log_keeps_the_log(trained_model_dir: Path, posts: Path, tmp_path: Path) -> None:
    import subprocess
    import sys

    log = tmp_path / "log.csv"
    log.write_text("earlier run\n")
    with log.open("ab") as appending:  # the shell's `>> log.csv`
        done = subprocess.run([sys.executable, "-m", "sentikit", "score", "--input", str(posts), "-o", "/dev/stdout",
                               "-m", str(trained_model_dir)], stdout=appending, stderr=subprocess.PIPE, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = log.read_text().splitlines()
    assert lines[0] == "earlier run" and lines[1] == "id,text,score,label" and len(lines) == 4
