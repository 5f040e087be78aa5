"""Redis keyspace and the embedded server used when REDIS_URL is unset."""

import contextlib
import json
import os
import subprocess
import sys

import pytest
import redis

from bot.config import REPO_ROOT
from bot.state.keys import Keyspace


def test_keys_are_tenant_scoped_with_a_hash_tag_and_escape_user_input():
    keys = Keyspace("sb")
    assert keys.conversation("slack:T123", "U1", "1699.01") == "sb:{slack:T123}:conv:U1:1699.01"
    hostile = keys.conversation("slack:T1}{x", "U*:1", "a b:{c}")
    assert hostile == "sb:{slack:T1%7D%7Bx}:conv:U%2A%3A1:a%20b%3A%7Bc%7D"
    assert hostile.count("{") == 1 and hostile.count("}") == 1
    assert len(keys.pending("t:1", "u" * 5000, "x")) < 500


@pytest.mark.slow
def test_embedded_redis_keeps_a_conversation_across_commands_and_restarts(
    indexed_data_dir, models_dir, tmp_path
):
    data_dir = tmp_path / "d"
    env = {
        **{k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "STUDYBOT_LLM"}},
        "STUDYBOT_DATA_DIR": str(data_dir),
        "STUDYBOT_MODELS_PATH": str(models_dir),
        "STUDYBOT_KNOWLEDGE_DIR": str(tmp_path / "k"),
        # Reuse the session's index through a Chroma copy: only Redis is under test.
    }
    import shutil

    shutil.copytree(indexed_data_dir / "chroma", data_dir / "chroma")
    (tmp_path / "k" / "distributed-systems").mkdir(parents=True)

    def ask(text):
        done = subprocess.run(
            [sys.executable, "-m", "bot", "ask", "--json", "--thread", "emb", text],
            env=env, capture_output=True, text=True, cwd=REPO_ROOT, timeout=60,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    socket = data_dir / "redis" / "redis.sock"
    try:
        assert ask("What's the CAP strategy for a chat app?")["template"]["missing"] == [
            "data_types"
        ]
        assert socket.exists()
        server = redis.Redis(unix_socket_path=str(socket))
        server.shutdown()  # the AOF must bring the pending template back
        done = ask("messages and presence")
        assert done["template"]["missing"] == []
        assert done["template"]["slots"]["data_types"] == ["messages", "presence"]
    finally:
        with contextlib.suppress(redis.RedisError):
            redis.Redis(unix_socket_path=str(socket)).shutdown(nosave=True)
