import pytest

from bot.config import REPO_ROOT
from bot.core.errors import NotFoundError
from bot.templates import PromptLibrary, TemplateError

SEED = {
    "cap-analysis": ("cap", ["system", "data_types"]),
    "resilience-design": ("fault-tolerance", ["system", "services", "dependencies"]),
    "consistency-design": ("consistency", ["system", "operations"]),
    "event-driven-design": ("event-driven", ["system", "entities", "events"]),
}


@pytest.fixture(scope="module")
def library():
    return PromptLibrary(REPO_ROOT / "prompts")


def test_the_four_seed_templates_have_their_slots(library):
    assert {t.id for t in library.user_templates()} == set(SEED)
    for template_id, (concept, slots) in SEED.items():
        template = library.template(template_id)
        assert template.concept == concept
        assert [s.name for s in template.slots] == slots
        for slot in template.slots:
            assert slot.description and slot.question and slot.example, (template_id, slot.name)
    assert not library.template("event-driven-design").slot("events").required


def test_every_template_renders_its_documented_example(library):
    for template in library.user_templates():
        text = template.render({s.name: s.example for s in template.slots})
        for slot in template.slots:
            values = slot.example if isinstance(slot.example, list) else [slot.example]
            assert all(v in text for v in values), (template.id, slot.name)
        assert "{{" not in text and "{%" not in text


def test_optional_slots_may_be_left_out(library):
    text = library.template("event-driven-design").render(
        {"system": "a library app", "entities": ["books", "loans"]}
    )
    assert "a library app" in text and "- books" in text


def test_internal_prompts_exist_but_are_not_offered_to_students(library):
    assert library.get("answer").kind == "internal"
    assert library.get("slot-extraction").kind == "internal"
    assert library.get("quiz-grading").kind == "internal"
    with pytest.raises(NotFoundError, match="unknown template 'answer'"):
        library.template("answer")


def test_unknown_template_lists_the_known_ones(library):
    with pytest.raises(NotFoundError, match=r"known: .*cap-analysis"):
        library.template("nope")


def write(folder, name, text):
    folder.mkdir(exist_ok=True)
    (folder / f"{name}.md").write_text(text)


HEADER = "---\nid: {id}\ntitle: T\nslots:\n  - name: system\n    description: d\n---\n"


@pytest.mark.parametrize(
    ("body", "header", "error"),
    [
        ("Design {{ system }} with {{ budget }}.", HEADER, "unknown placeholder(s): budget"),
        ("Design something.", HEADER, "slot(s) never used in the text: system"),
        ("Design {{ system }", HEADER, "broken.md: line 1"),
        ("{{ system }}", "---\nid: broken\ntitle: [unclosed\n---\n", "bad front matter"),
        ("{{ system }}", HEADER.replace("{id}", "other"), "must match the file name"),
        ("{{ system }}", "---\nid: broken\n---\n", "bad front matter"),
    ],
)
def test_a_broken_template_is_a_clear_error_naming_the_file(tmp_path, body, header, error):
    write(tmp_path, "broken", header.replace("{id}", "broken") + body)
    with pytest.raises(TemplateError, match=error.replace("(", r"\(").replace(")", r"\)")) as info:
        PromptLibrary(tmp_path)
    assert "broken.md" in str(info.value)
