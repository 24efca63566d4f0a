import subprocess
import sys

import pytest

import sentikit


@pytest.mark.parametrize("name", [n for n in sentikit.__all__ if n != "__version__"])
def test_every_public_name_resolves(name: str) -> None:
    assert getattr(sentikit, name) is not None


def test_unknown_attribute_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        sentikit.nope  # noqa: B018


def test_import_is_cheap() -> None:
    code = "import sys, sentikit; print(sorted(m for m in ('sklearn', 'typer', 'rich', 'docker', 'azure') if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
