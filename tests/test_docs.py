"""Every command is documented: help text with an example, and a mention in the README."""

import re
from pathlib import Path

import pytest

from sentikit.cli import app

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
COMMANDS = sorted(command.name or command.callback.__name__ for command in app.registered_commands)


def test_the_journey_is_all_there() -> None:
    expected = {"init", "train", "models", "evaluate", "score", "explain", "serve", "openapi", "build", "push",
                "deploy", "status", "logs", "delete", "monitor"}
    assert expected <= set(COMMANDS)


@pytest.mark.parametrize("name", COMMANDS)
def test_command_has_summary_and_example(name: str, cli) -> None:
    result = cli(name, "--help")
    assert result.exit_code == 0
    assert "Example" in result.stdout, f"`sentikit {name} --help` shows no example"


@pytest.mark.parametrize("name", COMMANDS)
def test_command_is_in_the_readme(name: str) -> None:
    assert re.search(rf"sentikit {name}\b", README), f"README.md never shows `sentikit {name}`"


def test_readme_opens_with_the_two_commands() -> None:
    blocks = re.findall(r"```bash\n(.*?)```", README, flags=re.S)
    assert "pip install -e . && sentikit train && sentikit score" in blocks[0]
    assert blocks[1].strip() == "bash scripts/test.sh"
    ci = (Path(__file__).resolve().parents[1] / ".ci" / "run").read_text()
    assert "scripts/test.sh" in ci


def _readme_tree() -> set[str]:
    """The files the README's "How it is built" tree names under src/sentikit/."""
    block = README.split("```\nsrc/sentikit/\n", 1)[1].split("\ntests/ ", 1)[0]
    files: set[str] = set()
    package = ""
    for line in block.splitlines():
        entry = re.match(r"  (\S+)", line)
        if entry and not line.startswith("   "):  # a module or a package of its own
            name = entry.group(1)
            if not name.endswith("/"):
                files.add(name)
                package = ""
                continue
            package, line = name, line[entry.end():]
        if package:  # a package's entry (and its continuation lines) names its files
            files.update(package + found for found in re.findall(r"(?<![\w./-])(\w[\w/]*\.py)\b", line))
    return files


def test_the_readme_tree_lists_every_module() -> None:
    package = Path(__file__).resolve().parents[1] / "src" / "sentikit"
    actual = {path.relative_to(package).as_posix() for path in package.rglob("*.py")}
    listed = _readme_tree()
    assert not actual - listed, f"README's tree misses {sorted(actual - listed)}"
    assert not listed - actual, f"README's tree names files that do not exist: {sorted(listed - actual)}"


# The layers below the pipeline's stages: they are imported by the stages and import none of them.
LOWER = ("errors", "config", "_atomic", "_json", "imageref", "docker_engine", "model", "engine", "data", "azure")
STAGES = ("cli", "server", "image", "push", "deploy", "spark", "monitor", "train", "evaluate", "adapt", "label",
          "score", "remote")


def _sentikit_imports(path: Path, package: Path) -> set[str]:
    """Every sentikit module ``path`` imports, at its top or inside a function, relative imports resolved."""
    import ast

    parts = ["sentikit", *path.relative_to(package).with_suffix("").parts]
    here = parts[:-1] if parts[-1] != "__init__" else parts[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("sentikit"))
        elif isinstance(node, ast.ImportFrom):
            base = here[: len(here) - node.level + 1] if node.level else []
            module = ".".join([*base, *(node.module.split(".") if node.module else [])])
            if module.startswith("sentikit"):
                found.update(f"{module}.{alias.name}" if not node.module else module for alias in node.names)
    return found


def test_dependencies_point_one_way() -> None:
    package = Path(__file__).resolve().parents[1] / "src" / "sentikit"
    upward = {}
    for path in sorted(package.rglob("*.py")):
        layer = path.relative_to(package).parts[0].removesuffix(".py")
        if layer in LOWER:
            stages = {m for m in _sentikit_imports(path, package) if m.split(".")[1] in STAGES}
            if stages:
                upward[path.relative_to(package).as_posix()] = sorted(stages)
    assert upward == {}, f"lower layers import stages: {upward}"
