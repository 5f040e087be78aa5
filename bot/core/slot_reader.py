"""Reads a template's slots from a message: the learned tagger first, the rules for the rest."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bot.core.calls import one_spelling, snap_calls, without_shared_kind, without_short_names
from bot.core.lists import MAX_ITEMS, clean_item, mentions, without_article
from bot.core.slots import extract_slots, labelled_slots, tabled_items
from bot.core.spelling import fix_frame_typos
from bot.core.system_name import clean_system, named_system
from bot.core.tagger import SlotTagger, TaggerExamples
from bot.templates import PromptLibrary, PromptTemplate

logger = logging.getLogger(__name__)


class SlotReader:
    """The slots a message states, for any template.

    A request is read by the CRF tagger (`tagger.py`), which was trained on labelled
    requests and sees the rule-based reading (`slots.py`) as hints. The rules alone read
    who calls whom, and a short reply to the slot the bot just asked for.
    """

    def __init__(
        self,
        prompts: PromptLibrary,
        examples: TaggerExamples | None = None,
        cache_dirs: Sequence[Path] = (),
    ) -> None:
        self._prompts = prompts
        self._tagger = SlotTagger(examples, self._hints, cache_dirs) if examples else None

    def _hints(self, template_id: str, text: str) -> dict[str, Any]:
        """The rules' reading, which the tagger takes as features."""
        return extract_slots(self._prompts.template(template_id), text)

    def prepare(self) -> None:
        """Load the tagger now (training it on first use) rather than at the first request."""
        if self._tagger:
            self._tagger.tag("warm up", "cap-analysis")

    def model_file(self) -> Path | None:
        """The tagger's trained model (trained now if it is not yet), or None without one."""
        return self._tagger.model_file() if self._tagger else None

    def memory_bytes(self) -> int:
        """What the loaded tagger keeps in memory: its model, about the size of its file."""
        model = self.model_file()
        return model.stat().st_size if model else 0

    def read(
        self, template: PromptTemplate, text: str, answering: str | None = None
    ) -> dict[str, Any]:
        """Slot values the text states; `answering` names the slot the bot just asked for."""
        text = fix_frame_typos(text)  # "sytem: ..." and "servcies" are labels all the same
        values = self._read(template, text, answering)
        if values.get("services"):
            values["services"] = without_shared_kind(values["services"])
        says_system = "system" in values or answering in (None, "system")
        if not says_system or not any(s.name == "system" for s in template.slots):
            return values
        # "ProctorNest, our online exam proctoring platform": the name and what it is
        system = named_system(text, values.get("system"))
        return {**values, "system": system} if system else values

    def _read(self, template: PromptTemplate, text: str, answering: str | None) -> dict[str, Any]:
        rules = extract_slots(template, text, answering)
        if self._tagger is None:
            return rules
        try:
            tagged = self._tagger.tag(text, template.id, None if answering else rules)
        except Exception:  # a model file that will not load or tag: the rules still read
            logger.exception("slot tagger failed; reading the slots with the rules alone")
            return rules
        if answering:
            # A reply to the bot's question: the rules split it, and where the tagger marks
            # less of an item, its span wins ("Users create polls" is "create polls").
            if template.slot(answering).type == "list" and rules.get(answering):
                spans = [item for item in map(clean_item, tagged.get(answering, [])) if item]
                items = [_narrowed(item, spans) for item in rules[answering]]
                return {**rules, answering: list(dict.fromkeys(items))}
            if answering == "system" and "system" not in rules and tagged.get("system"):
                # "It's a hackathon judging portal where judges score projects live"
                rules = {
                    **rules,
                    "system": clean_system(tagged["system"][0]) or tagged["system"][0],
                }
            if answering == "system":
                # "It's a volunteer app. Volunteers sign up to a cleanup, ...": the lists too,
                # never the system itself ("HaulWatch, truck telemetry" names one thing)
                system = str(rules.get("system") or "")
                for slot in template.slots:
                    spans = [
                        i
                        for i in dict.fromkeys(map(clean_item, tagged.get(slot.name, [])))
                        if i and not (system and (mentions(system, i) or mentions(i, system)))
                    ]
                    if slot.type == "list" and slot.name not in rules and len(spans) >= 2:
                        rules = {**rules, slot.name: spans[:MAX_ITEMS]}
            return rules
        values: dict[str, Any] = {}
        names = {slot.name for slot in template.slots}
        if "system" in names and (systems := tagged.get("system")):
            values["system"] = clean_system(systems[0]) or systems[0].strip()
        elif rules.get("system"):
            values["system"] = rules["system"]  # "resilience for my shop: ..." the rules see
        labelled = labelled_slots(text)
        for name in sorted(names - {"system", "dependencies"}):
            items = [item for item in one_spelling(map(clean_item, tagged.get(name, []))) if item]
            listed = rules.get(name) if name in labelled else None
            overlap = any(mentions(item, span) for item in listed or [] for span in items)
            if listed and overlap and len(listed) >= len(items):
                # "Aggregates: A, B, C" says what the items are; the tagger may only narrow them.
                items = list(dict.fromkeys(_narrowed(item, items) for item in listed))
            if not items and _all_tabled(rules.get(name), text):
                items = rules[name]  # a shape the tagger never saw ("CREATE TABLE ...")
            if name != "services":  # a service may share the system's name; data may not
                system = without_article(values.get("system", "")).lower()
                items = [item for item in items if without_article(item).lower() != system]
            if items:
                values[name] = items[:MAX_ITEMS]
        if calls := rules.get("dependencies"):
            system = without_article(values.get("system", ""))
            calls = snap_calls(calls, [*values.get("services", []), system])
            values["dependencies"] = calls
            # The callers and callees count as services even where the tagger missed them.
            sides = [side for call in calls for side in call.split(" -> ")]
            known = {item.lower() for item in values.get("services", [])}
            more = [side for side in dict.fromkeys(sides) if side.lower() not in known]
            services = without_short_names([*values.get("services", []), *more])
            values["services"] = services[:MAX_ITEMS]
        return values


def _all_tabled(items: list[str] | None, text: str) -> bool:
    """Whether the items are two or more rows of a pasted table or schema."""
    listed = {item.lower() for item in tabled_items(text)}
    return bool(items) and len(items) >= 2 and all(item.lower() in listed for item in items)


def _narrowed(item: str, spans: list[str]) -> str:
    """The tagger's span inside `item`, if it marked a part of it."""
    inside = [s for s in spans if s.lower() != item.lower() and mentions(item, s)]
    return max(inside, key=len) if inside else item
