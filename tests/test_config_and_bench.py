from bot.bench import run_bench
from bot.config import Settings


def test_settings_come_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("STUDYBOT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("STUDYBOT_RETRIEVAL__K", "7")
    monkeypatch.setenv("STUDYBOT_EMBEDDING__BACKEND", "sentence-transformers")
    monkeypatch.setenv("CHROMA_HOST", "chroma.internal")
    monkeypatch.setenv("CHROMA_PORT", "8001")
    settings = Settings()
    assert settings.data_dir == tmp_path
    assert settings.models_dir == tmp_path / "models"
    assert settings.retrieval.k == 7
    assert settings.embedding.backend == "sentence-transformers"
    assert (settings.chroma.host, settings.chroma.port) == ("chroma.internal", 8001)


def test_bench_quick_reports_every_scenario(make_settings, course_dir, monkeypatch):
    monkeypatch.delenv("CHROMA_HOST", raising=False)
    settings = make_settings(knowledge_dir=course_dir.parent, default_course="mini")
    rows = run_bench(settings, quick=True)
    names = [row.scenario for row in rows]
    assert names[:2] == ["ingest: cold, whole course", "ingest: unchanged re-ingest"]
    assert {"search: warm hybrid", "search: warm dense", "search: warm bm25"} <= set(names)
    assert rows[1].notes == {"re_embedded": 0}
    for row in rows:
        assert row.n >= 1 and 0 < row.median_ms <= row.p95_ms <= row.p99_ms
