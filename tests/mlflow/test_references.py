"""MLflow references, settings and packaging, without a server."""

from __future__ import annotations

from pathlib import Path

import pytest

from sentikit.config import load_settings, mlflow_tracking_uri
from sentikit.errors import ConfigError, InvalidInputError
from sentikit.tracking import is_mlflow_reference
from sentikit.tracking.client import display_uri
from sentikit.tracking.registry import MlflowReference, parse_reference, server_cache


@pytest.mark.parametrize(("text", "expected"), [
    ("models:/sentiment/3", MlflowReference("models:/sentiment/3", name="sentiment", version=3)),
    ("models:/sentiment@champion", MlflowReference("models:/sentiment@champion", name="sentiment", alias="champion")),
    ("runs:/abc123/model", MlflowReference("runs:/abc123/model", run_id="abc123", path="model")),
    ("runs:/abc123", MlflowReference("runs:/abc123", run_id="abc123", path="model")),
    ("runs:/abc123/out/model/", MlflowReference("runs:/abc123/out/model/", run_id="abc123", path="out/model")),
])
def test_references_parse(text: str, expected: MlflowReference) -> None:
    assert parse_reference(text) == expected
    assert is_mlflow_reference(text)


@pytest.mark.parametrize(("text", "message"), [
    ("models:/sentiment/latest", "the version must be a number"),
    ("models:/sentiment", "expected models:/NAME/VERSION"),
    ("runs:/abc/../../etc", "may not contain '..'"),
])
def test_bad_references_are_user_errors(text: str, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        parse_reference(text)


def test_local_references_are_not_mlflow() -> None:
    assert not any(is_mlflow_reference(r) for r in ("sentiment", "sentiment:2", "./models/sentiment/1", None, ""))


def test_credentials_never_reach_messages_or_cache_names(tmp_path: Path) -> None:
    assert display_uri("https://alice:s3cret@mlflow.example.com:8443/path") == "https://alice@mlflow.example.com:8443/path"
    assert display_uri("databricks") == "databricks"
    one, two = (server_cache(tmp_path, f"https://alice:{pw}@host") for pw in ("a", "b"))
    assert one == two and "s3cret" not in str(server_cache(tmp_path, "https://alice:s3cret@host"))


def test_tracking_uri_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "sentikit.toml").write_text('[mlflow]\ntracking_uri = "http://file:5000"\nexperiment = "team"\n')
    environ: dict[str, str] = {}
    s = load_settings(environ=environ, cwd=tmp_path)
    assert (s.mlflow_tracking_uri, s.mlflow_experiment) == ("http://file:5000", "team")
    environ["SENTIKIT_MLFLOW_URI"] = "http://env:5000"
    assert load_settings(environ=environ, cwd=tmp_path).mlflow_tracking_uri == "http://env:5000"
    flagged = load_settings({"mlflow_tracking_uri": "http://flag:5000"}, environ=environ, cwd=tmp_path)
    assert flagged.mlflow_tracking_uri == "http://flag:5000"
    # MLflow's own variable is the last resort, for reading models:/ references
    (tmp_path / "empty").mkdir()
    unset = load_settings(environ={}, cwd=tmp_path / "empty")
    assert mlflow_tracking_uri(unset, {"MLFLOW_TRACKING_URI": "http://mlflow-env"}) == "http://mlflow-env"
    assert mlflow_tracking_uri(unset, {}) == ""
    assert mlflow_tracking_uri(flagged, {"MLFLOW_TRACKING_URI": "http://mlflow-env"}) == "http://flag:5000"


def test_a_token_in_the_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "sentikit.toml").write_text('[mlflow]\ntoken = "dapi123"\n')
    with pytest.raises(ConfigError, match="looks like a secret"):
        load_settings(environ={}, cwd=tmp_path)


def test_the_serving_image_has_no_mlflow() -> None:
    from sentikit.image.context import serving_requirements

    assert not [r for r in serving_requirements() if "mlflow" in r.lower()]
