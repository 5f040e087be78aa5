"""Chroma as a real server (`chroma run` on loopback): ingest and search through HttpClient."""

import json
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from bot.cli import run
from bot.config import ChromaSettings
from bot.wiring import Container
from tests.conftest import free_port

pytestmark = pytest.mark.slow


@pytest.fixture
def chroma_server(tmp_path: Path):
    port = free_port()
    chroma = shutil.which("chroma") or str(Path(__import__("sys").executable).parent / "chroma")
    process = subprocess.Popen(
        [
            chroma,
            "run",
            "--path",
            str(tmp_path / "server"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=1)
            break
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                pytest.fail("chroma server did not start")
            time.sleep(0.2)
    yield port
    process.terminate()
    process.wait(timeout=10)


def test_ingest_and_search_against_a_chroma_server(chroma_server, make_settings, course_dir):
    settings = make_settings(chroma=ChromaSettings(host="127.0.0.1", port=chroma_server))
    container = Container(settings)
    report = container.ingestor.ingest([course_dir], "mini")
    assert report.added == 5
    assert not settings.chroma_dir.exists()  # nothing went to the embedded store

    other = Container(settings)  # a second process would see the same collections
    assert other.index.courses() == ["mini"]
    assert other.ingestor.ingest([course_dir], "mini").embedded == 0
    top = other.searcher.search("random delay before retrying", "mini").passages[0]
    assert top.chunk.section == "Resilience notes > Backoff with jitter"


def test_cli_uses_chroma_host_and_port(
    chroma_server, make_settings, course_dir, monkeypatch, capsys
):
    settings = make_settings()
    monkeypatch.setenv("STUDYBOT_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("STUDYBOT_MODELS_PATH", str(settings.models_dir))
    monkeypatch.setenv("CHROMA_HOST", "127.0.0.1")
    monkeypatch.setenv("CHROMA_PORT", str(chroma_server))
    assert run(["ingest", str(course_dir), "--course", "mini"]) == 0
    assert run(["search", "breaker probe", "--course", "mini", "--json"]) == 0
    out = capsys.readouterr().out
    assert "Circuit breakers" in json.loads(out[out.index("[") :])[0]["section"]
    assert not settings.chroma_dir.exists()
