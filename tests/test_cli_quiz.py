"""Quizzes, progress, groups, links and pushes from the command line and the console."""

import json
import re
import subprocess
import sys

import pytest

from bot.config import REPO_ROOT
from tests.conftest import call


def test_quiz_answer_rate_and_stats_with_a_chart(cli_redis_env, capsys, tmp_path):
    code, out, _ = call(capsys, "quiz", "--concept", "consensus", "--json", "--user", "ada")
    prompt = json.loads(out)
    assert code == 0 and prompt["concept"] == "consensus" and not prompt["due"]
    answer = "a" if prompt["options"] else "a quorum of nodes agrees"
    code, out, _ = call(
        capsys, "quiz", "answer", prompt["prompt_id"], answer, "--json", "--user", "ada"
    )
    result = json.loads(out)
    assert code == 0 and result["source"].startswith("04-consensus.md > ")
    if not prompt["options"]:
        code, out, _ = call(
            capsys, "quiz", "rate", prompt["prompt_id"], "good", "--json", "--user", "ada"
        )
        result = json.loads(out)
    assert result["rating"] in {"again", "good"} and result["next_due"]

    chart = tmp_path / "progress.png"
    code, out, _ = call(capsys, "stats", "--user", "ada", "--chart", str(chart), "--json")
    stats = json.loads(out)
    assert code == 0 and stats["cards"] == 1 and stats["reviewed_today"] == 1
    assert stats["weakest"] == ["consensus"]
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    code, out, _ = call(capsys, "quiz", "answer", prompt["prompt_id"], answer, "--user", "ada")
    assert code == 0 and "already answered" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["quiz", "--concept", "knitting"], "no quiz items for 'knitting'"),
        (["quiz", "answer", "no-such-prompt", "a"], "expired or does not exist"),
        (["quiz", "rate", "no-such-prompt", "superb"], "again, hard, good or easy"),
        (["subscribe", "7am", "Europe/Berlin"], "HH:MM"),
        (["subscribe", "07:00", "Europe/Nowhere"], "unknown timezone"),
        (["subscribe", "07:00", "UTC", "funday"], "days must be"),
        (["group", "create", "x" * 50], "2-32"),
        (["group", "join", "ghosts"], "no group called"),
        (["link", "NOPE42"], "wrong or has expired"),
        (["dlq", "retry", "nope"], "no dead letter"),
        (["push"], "use --now CHANNEL or --tick"),
        (["push", "--tick", "--at", "yesterday"], "ISO time"),
        (["reminders", "--on", "--quiet", "late"], "quiet hours"),
    ],
)
def test_bad_quiz_and_staff_input_exits_2(cli_redis_env, capsys, args, message):
    code, out, err = call(capsys, *args)
    assert code == 2, (out, err)
    assert message in err and len(err.strip().splitlines()) == 1


def test_a_wrong_option_is_refused_and_the_question_stays_open(cli_redis_env, capsys):
    for _ in range(20):
        code, out, _ = call(capsys, "quiz", "--json", "--user", "opt")
        prompt = json.loads(out)
        if prompt["options"]:
            break
        call(capsys, "quiz", "answer", prompt["prompt_id"], "something", "--user", "opt")
        call(capsys, "quiz", "rate", prompt["prompt_id"], "good", "--user", "opt")
    code, _, err = call(capsys, "quiz", "answer", prompt["prompt_id"], "q", "--user", "opt")
    assert code == 2 and "pick one of the options" in err
    code, out, _ = call(
        capsys, "quiz", "answer", prompt["prompt_id"], "a", "--json", "--user", "opt"
    )
    assert code == 0 and json.loads(out)["duplicate"] is False


def test_groups_subscriptions_and_dead_letters_from_the_cli(cli_redis_env, capsys, tmp_path):
    assert call(capsys, "group", "create", "Raft Fans", "--user", "ada")[0] == 0
    assert call(capsys, "group", "join", "raft fans", "--user", "bob")[0] == 0
    code, out, _ = call(capsys, "group", "list")
    assert "Raft Fans (2 members)" in out
    chart = tmp_path / "board.png"
    code, out, _ = call(capsys, "group", "leaderboard", "Raft Fans", "--chart", str(chart))
    assert code == 0 and "Group streak: 0 day(s)" in out and chart.exists()
    code, out, _ = call(
        capsys, "subscribe", "07:30", "Europe/Berlin", "weekdays", "--channel", "C7"
    )
    assert code == 0 and "mon,tue,wed,thu,fri" in out
    code, out, _ = call(capsys, "subscriptions", "--json")
    assert [s["channel"] for s in json.loads(out)] == ["C7"]
    code, out, _ = call(capsys, "dlq", "list")
    assert "empty" in out
    assert call(capsys, "unsubscribe", "--channel", "C7")[0] == 0
    code, _, err = call(capsys, "unsubscribe", "--channel", "C7")
    assert code == 2 and "no daily quiz" in err


@pytest.mark.slow
def test_console_quiz_flow_through_stdin(subprocess_env):
    env = subprocess_env
    # "a" answers either kind of question; "good" then rates a quick check
    # (or, after a multiple-choice answer, is just asked as a question).
    script = "/quiz storage\na\ngood\n/stats\n/quit\n"
    done = subprocess.run(
        [sys.executable, "-m", "bot", "chat", "--user", "console-student"],
        input=script, env=env, capture_output=True, text=True, timeout=120, cwd=REPO_ROOT,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "New question (storage)" in done.stdout
    assert re.search(r"Source: \d\d-[\w-]+\.md > ", done.stdout)
    assert "cards: 1" in done.stdout and "Streak: 1 day(s)" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr


def test_staff_commands_do_not_load_the_embedding_model(subprocess_env):
    probe = (
        "import sys; from bot.cli import run; "
        "code = run(['subscriptions']) + run(['group', 'list']) + run(['dlq', 'list']); "
        "print(code, 'onnxruntime' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        env=subprocess_env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip().splitlines()[-1] == "0 False"
