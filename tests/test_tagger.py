"""The learned slot tagger: trained from labelled examples, cached, robust to any text."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.config import REPO_ROOT
from bot.core import tagger
from bot.core.slot_reader import SlotReader
from bot.core.tagger import SlotTagger, gold_tags, load_tagger_examples, tokenize
from bot.templates import PromptLibrary
from tests.conftest import call

EXAMPLES = REPO_ROOT / "prompts" / "slot-examples"


@pytest.fixture(scope="module")
def prompts() -> PromptLibrary:
    return PromptLibrary(REPO_ROOT / "prompts")


@pytest.fixture(scope="module")
def examples():
    return load_tagger_examples(EXAMPLES)


@pytest.fixture(scope="module")
def reader(prompts, examples, models_dir) -> SlotReader:
    """The reader the bot builds: trained once per session, beside the model like the bot's."""
    return SlotReader(prompts, examples, [models_dir / "cache"])


def test_every_example_labels_what_its_text_says(examples):
    assert len(examples) >= 1700
    for template_id, text, labels in examples:
        tokens = tokenize(text)
        tags = gold_tags(tokens, text, labels, "data_types")
        if labels.get("system"):
            assert "B-SYS" in tags, (template_id, text[:80])


def test_the_tagger_reads_a_request_nobody_wrote_into_the_examples(prompts, reader):
    cap = prompts.template("cap-analysis")
    slots = reader.read(
        cap, "Our vet clinic portal keeps pet records, appointment slots and invoices. CP or AP?"
    )
    assert slots["system"] == "Our vet clinic portal"
    assert slots["data_types"] == ["pet records", "appointment slots", "invoices"]


def test_the_model_is_trained_once_per_example_set_and_then_loaded(examples, tmp_path):
    few = examples[::20]
    SlotTagger(few, cache_dirs=[tmp_path]).tag("warm up", "cap-analysis")
    [model] = tmp_path.glob("*.crfsuite")
    trained_at = model.stat().st_mtime_ns
    SlotTagger(few, cache_dirs=[tmp_path]).tag("again", "cap-analysis")
    assert model.stat().st_mtime_ns == trained_at
    SlotTagger(few[1:], cache_dirs=[tmp_path]).tag("other examples", "cap-analysis")
    assert len(list(tmp_path.glob("*.crfsuite"))) == 2
    assert not list(tmp_path.glob("*.tmp"))  # nothing half-written is left behind


def test_a_cache_folder_that_cannot_be_written_falls_back_to_the_next(examples, tmp_path):
    blocked, spare = tmp_path / "blocked", tmp_path / "spare"
    blocked.write_text("a file where the folder should be")  # mkdir fails, even as root
    SlotTagger(examples[::20], cache_dirs=[blocked, spare]).tag("hi", "cap-analysis")
    assert list(spare.glob("*.crfsuite"))


@pytest.mark.parametrize(
    "text",
    ["", "   \n\n ", "\x00\x01\x02 binary \xff", "🙂🙂🙂", "a, " * 2000, "x" * 4000],
)
def test_any_text_gives_a_reading_and_never_an_error(prompts, reader, text):
    for template in prompts.user_templates():
        slots = reader.read(template, text)
        assert all(len(v) <= 15 for v in slots.values() if isinstance(v, list))


@pytest.mark.slow  # the whole bot, through the CLI
def test_eval_templates_reports_every_measure_and_refuses_bad_files(
    cli_redis_env, capsys, tmp_path
):
    cases = tmp_path / "cases.jsonl"
    lines = [
        {"id": "c1", "voice": "terse", "turns": ["CAP for a chat app: messages, presence"],
         "intent": "cap-analysis",
         "slots": {"system": "chat app", "data_types": ["messages", "presence"]}},
        {"id": "e1", "voice": "terse", "turns": ["what is a quorum?"], "intent": "explain",
         "slots": {}},
        # Writers label a named product by its name or by what it is: both count.
        *({"id": f"n{i}", "voice": "spec", "intent": "consistency-design",
           "turns": ["consistency design for ProctorNest, our online exam proctoring platform. "
                     "Operations: start exam, submit answer"],
           "slots": {"system": gold, "operations": ["start exam", "submit answer"]}}
          for i, gold in enumerate(["ProctorNest", "online exam proctoring platform"])),
    ]  # fmt: skip
    cases.write_text("\n".join(json.dumps(line) for line in lines))
    code, out, _ = call(capsys, "eval", "--templates", str(cases), "--json")
    assert code == 0
    [report] = json.loads(out)
    assert report["cases"] == 4 and report["intent_accuracy"] == 1.0
    assert report["false_template_rate"] == 0.0
    assert report["slots"]["cap-analysis"]["f1"] == 1.0
    assert report["slots"]["consistency-design"]["per_slot"]["system"]["f1"] == 1.0

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "x"}\n')
    code, _, err = call(capsys, "eval", "--templates", str(bad))
    assert code == 2 and "bad.jsonl:1" in err
    code, _, err = call(capsys, "eval", "--templates", str(tmp_path / "none.jsonl"))
    assert code == 2 and "no such eval file" in err


def test_every_template_has_examples_and_every_example_file_a_template(prompts, examples):
    ids = {t.id for t in prompts.user_templates()}
    assert {p.name.split(".")[0] for p in Path(EXAMPLES).glob("*.yaml")} == ids
    assert {template_id for template_id, _, _ in examples} == ids


def test_a_model_file_that_will_not_load_leaves_the_rules_reading(
    prompts, examples, tmp_path, caplog
):
    few = examples[::20]
    model = SlotReader(prompts, few, [tmp_path]).model_file()
    model.write_bytes(b"not a crfsuite model")
    tagger._OPENED.pop(model)  # as a new process finds it
    reader = SlotReader(prompts, few, [tmp_path])
    slots = reader.read(prompts.template("cap-analysis"), "CAP for a chat app: messages, presence")
    assert slots["data_types"] == ["messages", "presence"]
    assert "slot tagger failed" in caplog.text
