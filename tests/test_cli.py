import json
import os
import subprocess
import sys

import pytest

from bot.config import REPO_ROOT
from tests.conftest import COURSE, call


def test_search_json_follows_the_contract(cli_env, capsys):
    code, out, _ = call(capsys, "search", "why add randomness to retry delays", "--json")
    assert code == 0
    sources = json.loads(out)
    assert isinstance(sources, list) and len(sources) == 5
    for source in sources:
        assert set(source) == {"path", "title", "section", "concept", "score", "text"}
        assert all(isinstance(source[key], str) for key in ("path", "title", "section", "text"))
        assert isinstance(source["score"], float)
    assert sources[0]["section"] == "Fault tolerance > Retries with exponential backoff and jitter"
    assert sources[0]["path"] == "06-fault-tolerance.md"
    assert sources[0]["concept"] == "fault-tolerance"


def test_search_k_and_human_output(cli_env, capsys):
    code, out, _ = call(capsys, "search", "raft log commit", "--k", "2")
    assert code == 0
    assert out.count("04-consensus.md") >= 1
    assert "1. Consensus > Raft" in out and "3." not in out


def test_off_topic_search_abstains(cli_env, capsys):
    code, out, _ = call(capsys, "search", "best banana bread recipe", "--json")
    assert (code, json.loads(out)) == (0, [])
    code, out, _ = call(capsys, "search", "best banana bread recipe")
    assert code == 0 and "Nearest topics" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["search", ""], "empty"),
        (["search", "   "], "empty"),
        (["search", "x" * 100_000], "too long"),
        (["search", "?!?! ..."], "no words"),
        (["search", "cap", "--course", "underwater-basket-weaving"], "unknown course"),
        (["search", "cap", "--course", "../etc"], "invalid course name"),
        (["search", "cap", "--k", "0"], "Invalid value"),
        (["ingest", "/no/such/folder"], "no such file or folder"),
        (["eval", "/no/such/file.jsonl"], "no such eval file"),
        (["frobnicate"], "No such command"),
    ],
)
def test_bad_input_exits_2_with_one_short_line(cli_env, capsys, args, message):
    code, _out, err = call(capsys, *args)
    assert code == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1


def test_bad_eval_line_names_the_line(cli_env, capsys, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "what is CAP", "expect": ["CAP"]}\n{"oops": 1}\n')
    code, _, err = call(capsys, "eval", str(bad))
    assert code == 2 and "bad.jsonl:2" in err


def test_ingest_reports_unreadable_files_and_indexes_the_rest(
    monkeypatch, make_settings, capsys, course_dir
):
    settings = make_settings()
    monkeypatch.setenv("STUDYBOT_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("STUDYBOT_MODELS_PATH", str(settings.models_dir))
    (course_dir / "blob.md").write_bytes(b"\x00\x00\x00")
    (course_dir / "latin.txt").write_bytes("na\u00efve".encode("latin-1"))
    (course_dir / "broken.pdf").write_bytes(b"%PDF-1.7 not really")

    code, out, err = call(capsys, "ingest", str(course_dir), "--course", "mini")

    assert code == 2
    assert "mini: 2 files, 5 chunks (5 added" in out
    assert "blob.md: binary file" in err
    assert "latin.txt: not UTF-8" in err
    assert "broken.pdf: unreadable PDF" in err
    code, out, _ = call(capsys, "search", "breaker probe request", "--course", "mini", "--json")
    assert code == 0 and "Circuit breakers" in json.loads(out)[0]["section"]


def test_ingest_with_a_missing_path_changes_nothing(monkeypatch, make_settings, capsys, course_dir):
    settings = make_settings()
    monkeypatch.setenv("STUDYBOT_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("STUDYBOT_MODELS_PATH", str(settings.models_dir))
    code, *_ = call(capsys, "ingest", str(course_dir), "/no/such/file.md", "--course", "mini")
    assert code == 2
    code, out, _ = call(capsys, "courses")
    assert "mini" not in out


def test_first_search_on_an_empty_index_ingests_the_bundled_course(
    monkeypatch, make_settings, capsys, course_dir
):
    settings = make_settings()
    monkeypatch.setenv("STUDYBOT_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("STUDYBOT_MODELS_PATH", str(settings.models_dir))
    monkeypatch.setenv("STUDYBOT_KNOWLEDGE_DIR", str(course_dir.parent))
    monkeypatch.setenv("STUDYBOT_DEFAULT_COURSE", "mini")
    code, out, err = call(capsys, "search", "random delay before retrying", "--json")
    assert code == 0
    assert "First run: indexing mini" in err and "5 added" in err
    assert json.loads(out)[0]["section"] == "Resilience notes > Backoff with jitter"
    code, _, err = call(capsys, "search", "random delay before retrying", "--json")
    assert "First run" not in err


@pytest.mark.slow  # waits on a breaker's rest, a process or the whole bot
def test_eval_prints_all_three_modes(cli_env, capsys):
    code, out, _ = call(capsys, "eval", "--json")
    assert code == 0
    report = json.loads(out)
    assert set(report["overall"]) == {"hybrid", "dense", "bm25"}
    assert {"recall@1", "recall@3", "recall@5", "mrr"} == set(report["overall"]["hybrid"])
    assert report["abstention"]["off_topic"] >= 8


@pytest.mark.slow
def test_installed_command_searches_and_asks_without_importing_torch(
    indexed_data_dir, models_dir, redis_url, redis_prefix
):
    env = {
        **os.environ,
        "STUDYBOT_DATA_DIR": str(indexed_data_dir),
        "STUDYBOT_MODELS_PATH": str(models_dir),
        "REDIS_URL": redis_url,
        "REDIS_KEY_PREFIX": redis_prefix,
    }
    probe = (
        "import sys, json; from bot.cli import run; "
        "code = run(['search', 'what is a fencing token', '--json']) "
        "+ run(['ask', 'what is a fencing token']); "
        "print(json.dumps({'code': code, 'torch': 'torch' in sys.modules, "
        "'st': 'sentence_transformers' in sys.modules}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True
    )
    status = json.loads(done.stdout.strip().splitlines()[-1])
    assert status == {"code": 0, "torch": False, "st": False}
    module = subprocess.run(
        [sys.executable, "-m", "bot", "search", "fencing token", "--json", "--k", "1"],
        env=env,
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
    )
    assert module.returncode == 0, module.stderr
    assert "Fencing" in json.loads(module.stdout)[0]["section"]
    assert COURSE  # the bundled course is the default
