from pathlib import Path

import pytest

from sentikit.config import STARTER_CONFIG, Settings, load_settings, read_api_key, write_starter_config
from sentikit.errors import ConfigError


def test_defaults_when_nothing_is_set(tmp_path: Path) -> None:
    assert load_settings(environ={}, cwd=tmp_path) == Settings()


def test_precedence_flag_over_env_over_file_over_default(tmp_path: Path) -> None:
    (tmp_path / "sentikit.toml").write_text('workspace = "from-file"\nseed = 1\n[server]\nport = 9001\nmax_batch = 5\n')
    env = {"SENTIKIT_SEED": "2", "SENTIKIT_SERVER_PORT": "9002"}
    s = load_settings({"seed": 3, "server_max_batch": None}, environ=env, cwd=tmp_path)
    assert (s.workspace, s.seed, s.server_port, s.server_max_batch, s.model_name) == ("from-file", 3, 9002, 5, "sentiment")
    assert s.source == str(tmp_path / "sentikit.toml")


def test_pyproject_tool_table_is_read(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n[tool.sentikit]\nmodel_name = "tweets"\n[tool.sentikit.azure]\nlocation = "northeurope"\n')
    s = load_settings(environ={}, cwd=tmp_path)
    assert (s.model_name, s.azure_location) == ("tweets", "northeurope")


def test_azure_subscription_falls_back_to_azure_variable(tmp_path: Path) -> None:
    s = load_settings(environ={"AZURE_SUBSCRIPTION_ID": "sub-1"}, cwd=tmp_path)
    assert s.azure_subscription == "sub-1"
    s = load_settings(environ={"AZURE_SUBSCRIPTION_ID": "sub-1", "SENTIKIT_AZURE_SUBSCRIPTION": "sub-2"}, cwd=tmp_path)
    assert s.azure_subscription == "sub-2"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("seed = 'x'", "seed must be an integer, got 'x'"),
        ("colour = 1", "unknown setting 'colour'"),
        ("[server]\nbogus = 1", "unknown setting 'server.bogus'"),
        ("api_key = 'hunter2'", "'api_key' looks like a secret"),
        ("seed = ", "invalid TOML"),
    ],
)
def test_bad_config_file_is_a_clear_error(tmp_path: Path, content: str, message: str) -> None:
    (tmp_path / "sentikit.toml").write_text(content)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace("'", "'")):
        load_settings(environ={}, cwd=tmp_path)


def test_bad_environment_value_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="SENTIKIT_SERVER_PORT: server_port must be an integer"):
        load_settings(environ={"SENTIKIT_SERVER_PORT": "eighty"}, cwd=tmp_path)


def test_starter_config_round_trips_to_defaults(tmp_path: Path) -> None:
    path = write_starter_config(tmp_path / "sentikit.toml")
    assert path.read_text() == STARTER_CONFIG
    s = load_settings(environ={}, cwd=tmp_path)
    assert s == Settings(source=str(path))
    with pytest.raises(ConfigError, match="already exists"):
        write_starter_config(path)


def test_api_key_only_from_environment() -> None:
    assert read_api_key({"SENTIKIT_API_KEY": "k"}) == "k"
    assert read_api_key({}) is None
