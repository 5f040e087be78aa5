import numpy as np
import pytest

from bot.config import Settings
from bot.retrieval.embedding import OnnxEmbedder, onnx_model_path
from bot.retrieval.fallback_embedding import SentenceTransformerEmbedder
from bot.wiring import Container

TEXTS = [
    "why add randomness to retry delays",
    "Raft elects a leader by majority vote; randomised election timeouts make split votes rare.",
    "short",
    "word " * 400,  # longer than the model's 256 tokens: truncated the same way
]


@pytest.mark.slow
def test_onnx_matches_the_torch_model(models_dir):
    onnx = OnnxEmbedder(onnx_model_path(models_dir)).embed(TEXTS)
    torch = SentenceTransformerEmbedder().embed(TEXTS)
    assert onnx.shape == torch.shape == (4, 384)
    cosine = (onnx * torch).sum(axis=1)
    assert cosine.min() > 0.9999


def test_batches_pad_to_their_own_length_without_changing_results(models_dir):
    embedder = OnnxEmbedder(onnx_model_path(models_dir), batch_size=2)
    together = embedder.embed(TEXTS)
    alone = np.vstack([embedder.embed([t]) for t in TEXTS])
    assert np.allclose(together, alone, atol=1e-5)
    assert np.allclose(np.linalg.norm(together, axis=1), 1.0, atol=1e-5)
    assert embedder.embed([]).shape == (0, 384)


@pytest.mark.slow
def test_a_broken_onnx_file_falls_back_to_sentence_transformers(tmp_path):
    models = tmp_path / "models"
    models.mkdir()
    (models / "all-MiniLM-L6-v2.onnx").write_bytes(b"not a model")
    container = Container(Settings(data_dir=tmp_path, models_path=models))
    assert container.embedder.name == "sentence-transformers"
    assert container.embedder.embed_query("quorum").shape == (384,)


def test_export_happens_once_and_is_reused(models_dir):
    path = onnx_model_path(models_dir)
    stamp = path.stat().st_mtime_ns
    assert onnx_model_path(models_dir).stat().st_mtime_ns == stamp
    assert not list(models_dir.glob("*.tmp"))
