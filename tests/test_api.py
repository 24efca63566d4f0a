import subprocess
import sys

import pytest

import sentikit


# The public names are a promise: removing or renaming one breaks users' code.
PUBLIC_NAMES = [
    "__version__", "SentikitError", "ExitCode", "Settings", "load_settings", "Dataset", "load_dataset",
    "default_training_files", "train_model", "evaluate_model", "SentimentModel", "load_model", "resolve_model",
    "list_models", "score_texts", "score_file", "RemoteScorer", "create_app",
]


def test_public_names_stay_the_same() -> None:
    assert sentikit.__all__ == PUBLIC_NAMES


@pytest.mark.parametrize("name", [n for n in PUBLIC_NAMES if n != "__version__"])
def test_every_public_name_is_sentikits_own_documented_definition(name: str) -> None:
    value = getattr(sentikit, name)
    assert callable(value), f"{name} is not a class or function"
    assert value.__name__ == name and value.__module__.startswith("sentikit."), f"{name} is {value!r}"
    assert (value.__doc__ or "").strip(), f"{name} has no docstring"


def test_unknown_attribute_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        sentikit.nope  # noqa: B018


@pytest.mark.slow
def test_import_is_cheap() -> None:
    code = "import sys, sentikit; print(sorted(m for m in ('sklearn', 'typer', 'rich', 'docker', 'azure') if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
