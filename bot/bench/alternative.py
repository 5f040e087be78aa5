"""The usual alternative the bench compares against: langchain-chroma + HuggingFaceEmbeddings."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

    from bot.bench.measure import Row, Sizes
    from bot.core.models import Chunk

WARM = "alternative: warm similarity_search(k=5)"
COLD = "alternative: cold start to first answer (wall)"
RSS = "alternative: peak RSS of one process"

K = 5
COLLECTION = "course"
# Our ONNX embedder's intra-op threads (EmbeddingSettings.threads): torch may use more, never fewer.
OUR_THREADS = 2
# Markers for the child's protocol lines: libraries may print to stdout too.
FIRST = "ALTERNATIVE-FIRST "
RESULT = "ALTERNATIVE-RESULT "
CHILD_TIMEOUT_S = 1800.0


def alternative_rows(
    chunks: Sequence[Chunk],
    vectors: np.ndarray,
    queries: Sequence[str],
    sizes: Sizes,
    scratch: Path,
) -> list[Row]:
    """Cold-start and serve the alternative in child processes; its three bench rows.

    Its store holds the same chunks and, the model being the same, the same vectors as our
    index: written directly, since how fast the alternative ingests is not in question.
    """
    from bot.bench.measure import ms_row, row

    if not chunks or not queries:
        raise ValueError("the alternative needs chunks to index and queries to answer")
    folder = Path(tempfile.mkdtemp(prefix="alternative-", dir=scratch))
    store, query_file = folder / "chroma", folder / "queries.json"
    _write_store(chunks, vectors, store)
    query_file.write_text(json.dumps(list(queries)), encoding="utf-8")

    serve = ["serve", "--store", str(store), "--queries", str(query_file)]
    # Other work on the machine inflates torch's times far more than ONNX's (OpenMP threads
    # wait on each other), so the warm row says how loaded it was.
    load_before = os.getloadavg()[0]
    # The first process serves the warm queries too: its first answer is as cold as any other's.
    warm = _run_child([*serve, "--repeats", str(sizes.query_repeats)])
    load_after = os.getloadavg()[0]
    others = [_run_child([*serve, "--repeats", "0"]) for _ in range(sizes.cold_runs - 1)]
    cold = [warm, *others]

    result, first, _ = warm
    samples = result["samples"]
    expected = len(queries) * sizes.query_repeats
    if len(samples) != expected or result["hits"] != min(K, len(chunks)):
        raise RuntimeError(
            f"alternative served {len(samples)} of {expected} queries, "
            f"{result['hits']} hits per query"
        )
    memory: dict[str, object] = {"answered": len(samples) + 2}  # plus first answer and warm-up
    if others:
        # Processes that stopped after one answer, to set against the serving one.
        peaks = [r["maxrss_mib"] for r, _, _ in others]
        memory["after_one_answer_mib"] = round(statistics.median(peaks), 1)
    return [
        ms_row(
            WARM,
            samples,
            queries=len(queries),
            torch_threads=result["torch_threads"],
            load_1m=[round(load_before, 2), round(load_after, 2)],
        ),
        ms_row(
            COLD,
            [wall for _, _, wall in cold],
            # Where a cold start goes, from inside the first process.
            import_ms=round(first["import_s"] * 1000),
            load_ms=round(first["load_s"] * 1000),
            first_query_ms=round(first["query_s"] * 1000),
        ),
        row(RSS, [result["maxrss_mib"]], "MiB", **memory),
    ]


def _write_store(chunks: Sequence[Chunk], vectors: np.ndarray, store: Path) -> None:
    """A persisted Chroma collection as langchain-chroma's `Chroma.from_texts` leaves it."""
    import chromadb

    client = chromadb.PersistentClient(path=str(store))
    collection = client.create_collection(
        COLLECTION,
        configuration={"hnsw": {"space": "cosine"}},  # our index's space too
    )
    # The same text our index embeds (heading path + body), ids and metadata.
    collection.add(
        ids=[c.id for c in chunks],
        embeddings=vectors,
        documents=[c.embedding_text for c in chunks],
        metadatas=[c.metadata() for c in chunks],  # type: ignore[misc]
    )
    client.clear_system_cache()  # let go of the files before a child opens them


def _run_child(arguments: list[str]) -> tuple[dict[str, Any], dict[str, Any], float]:
    """Run one child: its result (with its peak RSS), its first-answer line, and the wall to it."""
    from bot.bench.measure import measured_command, peak_rss_mib

    # Run the file, not `-m bot.bench.alternative`: -m would first import the bot.bench package
    # (pydantic settings, our scenarios), time a plain langchain script never spends. -P keeps
    # this folder off sys.path, so its modules cannot shadow the libraries' imports.
    command = [sys.executable, "-P", str(Path(__file__).resolve()), *arguments]
    env = {
        **os.environ,
        # No internet: fail rather than try the Hub, and keep Chroma from phoning home.
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "ANONYMIZED_TELEMETRY": "False",
    }
    with tempfile.TemporaryFile() as errors, tempfile.TemporaryDirectory() as folder:
        rss_file = Path(folder) / "rss"
        started = time.perf_counter()
        child = subprocess.Popen(
            measured_command(command, rss_file), env=env, stdout=subprocess.PIPE, stderr=errors
        )
        watchdog = threading.Timer(CHILD_TIMEOUT_S, child.kill)
        watchdog.start()
        try:
            assert child.stdout is not None
            first = _read_marked(child.stdout, FIRST)
            wall = time.perf_counter() - started
            result = _read_marked(child.stdout, RESULT) if first is not None else None
            child.stdout.read()
            child.wait()
        except BaseException:
            child.kill()  # e.g. a garbled protocol line: leave no torch process behind
            child.wait()
            raise
        finally:
            watchdog.cancel()
        if child.returncode or result is None:
            errors.seek(0)
            tail = errors.read().decode(errors="replace")[-2000:]
            raise RuntimeError(
                f"alternative `{arguments[0]}` child failed (exit {child.returncode}):\n{tail}"
            )
        result["maxrss_mib"] = peak_rss_mib(rss_file)
    return result, first or {}, wall


def _read_marked(stream: IO[bytes], marker: str) -> dict[str, Any] | None:
    """The JSON of the next line starting with `marker`, or None at end of output."""
    for raw in stream:
        line = raw.decode(errors="replace")
        if line.startswith(marker):
            return json.loads(line[len(marker) :])
    return None


# Child side: everything below runs in a fresh process, so torch never loads into the bench.


def _emit(marker: str, payload: dict[str, Any]) -> None:
    sys.stdout.write(marker + json.dumps(payload) + "\n")
    sys.stdout.flush()


def _embeddings() -> tuple[Any, float]:
    """HuggingFaceEmbeddings on the packaged weights, set up the way people do for cosine."""
    started = time.perf_counter()
    import torch
    from langchain_huggingface import HuggingFaceEmbeddings

    from bot.retrieval.model_export import packaged_model_dir

    # Torch's default is one thread per core; only raise it, to match our side's ONNX threads.
    wanted = min(OUR_THREADS, os.cpu_count() or 1)
    if torch.get_num_threads() < wanted:
        torch.set_num_threads(wanted)
    embeddings = HuggingFaceEmbeddings(
        model_name=str(packaged_model_dir()),  # a local path: nothing to download
        model_kwargs={"device": "cpu"},
        encode_kwargs={"normalize_embeddings": True},
    )
    return embeddings, time.perf_counter() - started


def _serve(store: Path, query_file: Path, repeats: int) -> None:
    started = time.perf_counter()
    import sentence_transformers  # noqa: F401  # imported lazily by HuggingFaceEmbeddings: count it here
    import torch
    from langchain_chroma import Chroma

    imported = time.perf_counter()
    queries = json.loads(query_file.read_text(encoding="utf-8"))
    embeddings, _ = _embeddings()
    vectors = Chroma(
        collection_name=COLLECTION,
        embedding_function=embeddings,
        persist_directory=str(store),
        create_collection_if_not_exists=False,
    )
    loaded = time.perf_counter()
    hits = vectors.similarity_search(queries[0], k=K)
    answered = time.perf_counter()
    _emit(
        FIRST,
        {
            "import_s": imported - started,
            "load_s": loaded - imported,
            "query_s": answered - loaded,
            "top": hits[0].metadata.get("section") if hits else None,
        },
    )

    vectors.similarity_search("warm up", k=K)
    samples = []
    for _ in range(repeats):
        for query in queries:
            began = time.perf_counter()
            hits = vectors.similarity_search(query, k=K)
            samples.append(time.perf_counter() - began)
    _emit(
        RESULT,
        {"samples": samples, "hits": len(hits), "torch_threads": torch.get_num_threads()},
    )


def main(argv: Sequence[str] | None = None) -> None:
    """Child entry point: load the store, answer once, then time the queries."""
    parser = argparse.ArgumentParser(prog="alternative", description=__doc__)
    parser.add_argument("command", choices=["serve"])
    parser.add_argument("--store", type=Path, required=True)
    parser.add_argument("--queries", type=Path, required=True)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args(argv)
    _serve(args.store, args.queries, args.repeats)


if __name__ == "__main__":
    main()
