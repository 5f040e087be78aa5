"""Shared fixtures: real Chroma, the real embedding model, the bundled course pack."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.config import REPO_ROOT, Settings
from bot.retrieval.embedding import onnx_model_path
from bot.wiring import Container

COURSE = "distributed-systems"


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The ONNX export, done once per test session (the real export path)."""
    path = tmp_path_factory.mktemp("models")
    onnx_model_path(path)
    return path


@pytest.fixture
def make_settings(tmp_path: Path, models_dir: Path):
    """Settings for an isolated data dir that shares the session's exported model."""

    def make(**overrides: object) -> Settings:
        values = {"data_dir": tmp_path / "data", "models_path": models_dir, **overrides}
        return Settings(**values)

    return make


@pytest.fixture(scope="session")
def indexed_data_dir(tmp_path_factory: pytest.TempPathFactory, models_dir: Path) -> Path:
    """A data dir with the bundled course pack ingested once for the whole session."""
    data_dir = tmp_path_factory.mktemp("indexed")
    container = Container(Settings(data_dir=data_dir, models_path=models_dir))
    container.ingestor.ingest([REPO_ROOT / "knowledge" / COURSE], COURSE)
    return data_dir


@pytest.fixture(scope="session")
def indexed(indexed_data_dir: Path, models_dir: Path) -> Container:
    """Components over the session's indexed course pack (read-only use)."""
    return Container(Settings(data_dir=indexed_data_dir, models_path=models_dir))


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, indexed_data_dir: Path, models_dir: Path) -> None:
    """Point the CLI (run in-process) at the indexed session data."""
    monkeypatch.setenv("STUDYBOT_DATA_DIR", str(indexed_data_dir))
    monkeypatch.setenv("STUDYBOT_MODELS_PATH", str(models_dir))
    monkeypatch.delenv("CHROMA_HOST", raising=False)


@pytest.fixture
def course_dir(tmp_path: Path) -> Iterator[Path]:
    """A small course folder to ingest, edit and break."""
    folder = tmp_path / "course" / "mini"
    folder.mkdir(parents=True)
    for name in ("01-cap.md", "06-fault-tolerance.md"):
        shutil.copy(REPO_ROOT / "tests" / "fixtures" / name, folder / name)
    yield folder
