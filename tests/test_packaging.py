"""Project files agree with each other: environment.yml mirrors pyproject, markers exist."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _name(requirement: str) -> str:
    return re.split(r"[<>=!\[; ]", requirement.strip(), maxsplit=1)[0].lower()


def _pyproject() -> dict[str, object]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_environment_yml_mirrors_pyproject() -> None:
    """Every runtime/test/dev dependency of pyproject appears in environment.yml and vice versa."""
    project = _pyproject()["project"]
    assert isinstance(project, dict)
    wanted = {_name(r) for r in project["dependencies"]}
    for reqs in project["optional-dependencies"].values():
        wanted |= {_name(r) for r in reqs if not r.startswith("polyresearch")}
    listed = set()
    text = (ROOT / "environment.yml").read_text()
    for line in text.split("dependencies:", 1)[1].splitlines():
        match = re.match(r"\s+- ([A-Za-z0-9_.-]+)", line)
        if match and match.group(1) not in {"python", "pip", "pip:"}:
            listed.add(match.group(1).lower())
    assert wanted == listed


def test_markers_declared_and_never_deselected() -> None:
    """slow/notebook/browser markers exist and addopts does not hide any of them."""
    pytest_cfg = _pyproject()["tool"]["pytest"]["ini_options"]  # type: ignore[index]
    markers = " ".join(pytest_cfg["markers"])
    for marker in ("slow", "notebook", "browser"):
        assert f"{marker}:" in markers
    assert "-m" not in pytest_cfg["addopts"]
    assert "--strict-markers" in pytest_cfg["addopts"]
    assert pytest_cfg["xfail_strict"] is True
    assert pytest_cfg["filterwarnings"][0] == "error"


def test_readme_opens_with_demo_and_test_commands() -> None:
    """The README's first two commands run the demo and the tests, and CI calls the latter."""
    readme = (ROOT / "README.md").read_text()
    commands = re.findall(r"```(?:bash|sh)\n(.+?)\n```", readme, flags=re.S)
    assert len(commands) >= 2
    assert "demo" in commands[0]
    assert "test" in commands[1]
    assert commands[1].strip() in (ROOT / ".ci" / "run").read_text()


def test_package_ships_py_typed() -> None:
    """The package is marked typed (PEP 561)."""
    assert (ROOT / "polyresearch" / "py.typed").exists()
