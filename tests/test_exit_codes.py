"""One real failing invocation per exit code (README § Scripting & CI)."""

from pathlib import Path

from conftest import free_port as closed_port  # nothing listens there: the port was just released

from sentikit.errors import ExitCode


def test_ok(cli) -> None:
    assert cli("--help").exit_code == ExitCode.OK


def test_check_failed(cli, small_training_file: Path) -> None:
    assert cli("train", str(small_training_file)).exit_code == 0
    assert cli("evaluate", str(small_training_file), "--min-auc", "1").exit_code == ExitCode.CHECK_FAILED  # AUC 0.995 here


def test_usage(cli) -> None:
    assert cli("evaluate", "no-such-file.csv").exit_code == ExitCode.USAGE
    assert cli("score", "--no-such-flag").exit_code == ExitCode.USAGE


def test_environment(cli, monkeypatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"tcp://127.0.0.1:{closed_port()}")
    result = cli("build", "--render-only", "ctx", "--model", "nope")  # model lookup fails first: exit 2
    assert result.exit_code == ExitCode.USAGE
    result = cli("deploy", "--target", "local", "--name", "sentiment", "--image", "sentikit-sentiment:1")
    assert result.exit_code == ExitCode.ENVIRONMENT, result.stderr


def test_remote(cli) -> None:
    result = cli("score", "hello", "--url", f"http://127.0.0.1:{closed_port()}")
    assert result.exit_code == ExitCode.REMOTE
    assert "Traceback" not in result.stderr
