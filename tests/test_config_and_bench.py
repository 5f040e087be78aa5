import json
import subprocess
import sys

import pytest

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


QUIZ = """concept: cap
items:
  - id: cap-per-type
    kind: multiple-choice
    question: "Which data may stay available through a partition?"
    options: ["Carts", "Payments"]
    answer: "Carts"
    explanation: "Carts merge later; payments must not diverge."
    source: {path: 01-cap.md, section: "Per data type"}
  - id: cap-choice
    kind: multiple-choice
    question: "What does a partition force?"
    options: ["Nothing", "A choice"]
    answer: "A choice"
    explanation: "Consistency or availability."
    source: {path: 01-cap.md, section: "Partitions force a choice"}
"""


@pytest.mark.slow
def test_bench_runs_every_scenario_and_reports_rows_quality_and_goals(
    course_dir, subprocess_env, tmp_path
):
    (course_dir / "quizzes").mkdir()
    (course_dir / "quizzes" / "cap.yaml").write_text(QUIZ)
    env = {
        **subprocess_env,
        "STUDYBOT_DATA_DIR": str(tmp_path / "data"),
        "STUDYBOT_KNOWLEDGE_DIR": str(course_dir.parent),
        "STUDYBOT_DEFAULT_COURSE": "mini",
    }
    out = tmp_path / "bench.json"
    command = [sys.executable, "-m", "bot", "bench", "--tiny", "--json", str(out)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    for title in ("studybot bench (tiny)", "Retrieval quality", "Goals"):
        assert title in done.stdout

    report = json.loads(out.read_text())
    assert report["machine"]["cores"] >= 1 and report["size"] == "tiny"
    rows = {row["scenario"]: row for row in report["rows"]}
    for row in rows.values():
        assert row["n"] >= 1 and 0 <= row["median"] <= row["p95"] <= row["p99"], row
        assert row["unit"] in {"ms", "MiB", "KiB"}
    expected = [
        "ingest: cold, whole course", "ingest: unchanged re-ingest", "search: warm hybrid",
        "floor: embed + Chroma query + 3 Redis round trips", "ask: warm extractive (core)",
        "ask: cold start to first answer (wall)", "ask: peak RSS of one process",
        "quiz: answer + FSRS + leaderboard", "push: tick fan-out to 5 channels",
        "redis: used_memory per student (20 students)", "slack: ack, 1 replica, 2 concurrent",
        "slack: event to answer, 2 replicas", "slack: replica RSS after warm-up",
        "alternative: warm similarity_search(k=5)",
        "alternative: cold start to first answer (wall)", "alternative: peak RSS of one process",
    ]  # fmt: skip
    assert [name for name in expected if name not in rows] == []
    assert rows["ingest: unchanged re-ingest"]["notes"] == {"re_embedded": 0}
    assert set(report["quality"]) == {"hybrid", "dense", "bm25"}
    assert all(0 <= q["recall@5"] <= 1 and 0 <= q["mrr"] <= 1 for q in report["quality"].values())
    goals = {goal["name"]: goal for goal in report["goals"]}
    assert {"ask / floor, median", "ask / alternative, warm median", "unchanged re-ingest",
            "serving process RSS after warm-up"} <= set(goals)  # fmt: skip
    assert all(goal["met"] == (goal["value"] <= goal["target"]) for goal in goals.values())
