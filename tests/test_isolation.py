"""Tenant isolation: two workspaces on different courses share no chunks and no Redis state."""

import numpy as np

from bot.core.models import Address, Chunk, Incoming
from bot.core.trace import Trace

T1 = Address("slack", "T1", "C1")
T2 = Address("slack", "T2", "C1")  # same channel id, same user id: only the tenant differs


def test_a_workspace_never_retrieves_another_courses_chunks(app, course_dir):
    app.ingestor.ingest([course_dir], "mini")
    app.assistant.set_course(T1, "mini", is_admin=True, channel=False)
    # A chunk of the other course mislabelled into mini's collection: only the
    # course filter inside the query (dense and lexical) keeps it out.
    text = "Random jitter on retry delays stops a thundering herd of clients."
    stray = Chunk("stray-1", "distributed-systems", "stray.md", "/x/stray.md", "Stray", "Stray",
                  "Stray > Jitter", ("fault-tolerance",), text, "h")  # fmt: skip
    vector = np.asarray(app.embedder.embed([stray.embedding_text]), dtype=np.float32)
    app.index.upsert("mini", [stray], vector, [vector])

    question = "why add random jitter to retry delays to avoid a thundering herd"
    in_t1 = app.assistant.ask(Incoming(T1, "U1", question, "t"))
    in_t2 = app.assistant.ask(Incoming(T2, "U1", question, "t"))
    assert in_t1.passages and {p.chunk.course for p in in_t1.passages} == {"mini"}
    assert "stray-1" not in {p.chunk.id for p in in_t1.passages}
    assert {p.chunk.course for p in in_t2.passages} == {"distributed-systems"}


def test_a_workspace_never_sees_another_workspaces_redis_state(app):
    started = app.assistant.ask(Incoming(T1, "U1", "What's the CAP strategy for a chat app?", "t"))
    assert started.template and started.template.missing  # T1 now waits for data types
    app.assistant.ask(Incoming(T1, "U1", "how do I bake sourdough bread?", "t"))
    app.assistant.keep_trace(T1, "U1", Trace("Slack mention", "Ev1", question="secret plan"))

    # The same user and thread ids in T2 find no pending template, history, gap or trace.
    reply = app.assistant.ask(Incoming(T2, "U1", "messages, presence and read receipts", "t"))
    assert reply.template is None
    assert app.assistant.gaps(T2) == [] and len(app.assistant.gaps(T1)) == 1
    assert "No recent request" in app.assistant.explain_last(T2, "U1")
    assert "secret plan" in app.assistant.explain_last(T1, "U1")
