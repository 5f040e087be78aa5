"""Prompt templates as files in prompts/: load, validate at startup, render with slots."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import frontmatter
import jinja2
import jinja2.meta
import yaml
from pydantic import BaseModel, ValidationError

from bot.core.errors import InputError, NotFoundError
from bot.core.text import clean_text


class TemplateError(Exception):
    """A template file is broken; the message names the file."""


class Slot(BaseModel):
    """One placeholder of a template, documented in its front matter."""

    name: str
    type: Literal["text", "list"] = "text"
    required: bool = True
    description: str
    question: str = ""
    example: str | list[str] = ""


class _Header(BaseModel):
    id: str
    title: str
    kind: Literal["template", "internal"] = "template"
    concept: str | None = None
    description: str = ""
    slots: list[Slot] = []


@dataclass(frozen=True)
class PromptTemplate:
    """A validated template: its header and compiled body."""

    id: str
    title: str
    kind: str
    concept: str | None
    description: str
    slots: tuple[Slot, ...]
    path: Path
    _compiled: jinja2.Template

    def slot(self, name: str) -> Slot:
        """The slot called `name`."""
        return next(s for s in self.slots if s.name == name)

    def missing(self, values: dict[str, Any]) -> list[str]:
        """Required slots that have no value yet, in declaration order."""
        return [s.name for s in self.slots if s.required and not values.get(s.name)]

    def values_from_form(self, values: dict[str, str | list[str]]) -> dict[str, Any]:
        """Slot values typed into a form or `--slot NAME=VALUE`: lists split, text trimmed.

        Raises InputError for a name that is not one of this template's slots.
        """
        if unknown := sorted(set(values) - {s.name for s in self.slots}):
            known = ", ".join(s.name for s in self.slots)
            raise InputError(f"unknown slot {unknown[0][:40]!r} for {self.id} (slots: {known})")
        slots: dict[str, Any] = {}
        for slot in self.slots:
            raw = values.get(slot.name) or ""
            if slot.type == "list":
                items = raw if isinstance(raw, list) else re.split(r"[\n,;]+", raw)
                cleaned = [clean_text(i).strip(" -*") for i in items]
                if kept := [i[:80] for i in cleaned if i][:15]:
                    slots[slot.name] = kept
            elif text := clean_text(str(raw)).strip()[:200]:
                slots[slot.name] = text
        return slots

    def describe(self, slots: dict[str, Any], missing: list[str], prompt: str | None) -> str:
        """What was understood, then what is still needed or the filled prompt (Markdown)."""
        system = slots.get("system")
        target = f" for **{system}**" if system else ""
        # What was understood, so a wrong reading is seen (and corrected) before it is used.
        understood = " · ".join(
            f"**{name.replace('_', ' ').capitalize()}:** "
            + (", ".join(value) if isinstance(value, list) else str(value))
            for name, value in slots.items()
        )
        heard = f"Understood: {understood}\n\n" if understood else ""
        if missing:
            asks = "\n".join(
                f"- **{name.replace('_', ' ')}**: {self.slot(name).question}" for name in missing
            )
            return f"{heard}To fill the *{self.title}* prompt{target}, I still need:\n{asks}"
        return (
            f"{heard}Here is the *{self.title}* prompt filled in{target}. "
            "Paste it into any AI assistant (to change something, say so, "
            f'e.g. "no, the system is ..."):\n\n```text\n{prompt}```'
        )

    def render(self, values: dict[str, Any]) -> str:
        """Fill the template; optional slots default to empty."""
        filled = {
            s.name: values.get(s.name) or ([] if s.type == "list" else "") for s in self.slots
        }
        return self._compiled.render(**filled).strip() + "\n"


class PromptLibrary:
    """Every template in a folder, loaded by id through one small manager."""

    def __init__(self, folder: Path) -> None:
        self._env = jinja2.Environment(
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            autoescape=False,  # prompts are plain text, not HTML
            keep_trailing_newline=True,
        )
        self._templates: dict[str, PromptTemplate] = {}
        if not folder.is_dir():
            raise TemplateError(f"no prompts folder at {folder}")
        for path in sorted(folder.glob("*.md")):
            if path.name.lower() == "readme.md":
                continue
            template = self._load(path)
            self._templates[template.id] = template

    def _load(self, path: Path) -> PromptTemplate:
        try:
            post = frontmatter.load(path)
            header = _Header.model_validate(post.metadata)
        except (yaml.YAMLError, ValidationError, UnicodeDecodeError) as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise TemplateError(f"{path.name}: bad front matter: {first}") from exc
        if header.id != path.stem:
            raise TemplateError(f"{path.name}: id {header.id!r} must match the file name")
        try:
            parsed = self._env.parse(post.content)
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateError(f"{path.name}: line {exc.lineno}: {exc.message}") from exc
        used = jinja2.meta.find_undeclared_variables(parsed)
        declared = {s.name for s in header.slots}
        if unknown := sorted(used - declared):
            raise TemplateError(f"{path.name}: unknown placeholder(s): {', '.join(unknown)}")
        if unused := sorted(declared - used):
            raise TemplateError(f"{path.name}: slot(s) never used in the text: {', '.join(unused)}")
        return PromptTemplate(
            id=header.id,
            title=header.title,
            kind=header.kind,
            concept=header.concept,
            description=header.description,
            slots=tuple(header.slots),
            path=path,
            _compiled=self._env.from_string(post.content),
        )

    def get(self, template_id: str) -> PromptTemplate:
        """Any prompt by id, internal ones included (the bot's own use)."""
        if template_id not in self._templates:
            raise TemplateError(f"no prompt file {template_id}.md")
        return self._templates[template_id]

    def template(self, template_id: str) -> PromptTemplate:
        """A template a student may fill, by id; internal prompts are refused."""
        template = self._templates.get(template_id)
        if template is None or template.kind != "template":
            known = ", ".join(t.id for t in self.user_templates())
            raise NotFoundError(f"unknown template {template_id[:60]!r} (known: {known})")
        return template

    def user_templates(self) -> list[PromptTemplate]:
        """Templates a student can fill (not the bot's internal prompts)."""
        return [t for t in self._templates.values() if t.kind == "template"]

    def for_concept(self, concept: str | None) -> PromptTemplate | None:
        """The template that applies a concept to a student's system, if there is one."""
        return next((t for t in self.user_templates() if t.concept == concept), None)
