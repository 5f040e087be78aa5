"""Structural rules: a platform-free core, no I/O or heavy imports at import time."""

import ast
import subprocess
import sys
from pathlib import Path

from bot.config import REPO_ROOT

PLATFORM_SDKS = {"slack_bolt", "slack_sdk", "discord"}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_core_and_retrieval_import_no_platform_sdk():
    for folder in ("core", "retrieval"):
        for path in (REPO_ROOT / "bot" / folder).rglob("*.py"):
            assert not imported_modules(path) & PLATFORM_SDKS, path


def test_every_module_opens_with_a_one_line_docstring():
    for path in (REPO_ROOT / "bot").rglob("*.py"):
        docstring = ast.get_docstring(ast.parse(path.read_text()))
        assert docstring and "\n" not in docstring.strip(), path


def test_importing_the_cli_does_no_heavy_work():
    probe = (
        "import sys, time; t = time.perf_counter(); import bot.cli, bot.wiring; "
        "heavy = {'torch', 'onnxruntime', 'sentence_transformers', 'langchain_text_splitters'}; "
        "print(sorted(heavy & set(sys.modules)))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
