"""Worked examples: a course section that fills a prompt template for one sample system."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.core.errors import NotFoundError

if TYPE_CHECKING:
    from bot.retrieval.search import HybridSearcher
    from bot.templates import PromptLibrary

PREFIX = "worked example: "  # the heading names the template: "Worked example: CAP trade-off..."


class WorkedExamples:
    """`/study template ID example` on every face: the course's worked example for a template."""

    def __init__(self, prompts: PromptLibrary, searcher: HybridSearcher) -> None:
        self._prompts = prompts
        self._searcher = searcher

    def show(self, course: str, template_id: str) -> str:
        """The section, headed by its title; an unknown template or a missing example is refused."""
        template = self._prompts.template(template_id)
        wanted = PREFIX + template.title.lower()
        for path, heading in self._searcher.sections(course):
            if heading.lower().startswith(wanted):
                text = self._searcher.section_text(course, path, heading)
                return f"**{heading}**\n\n{text}"
        raise NotFoundError(f"this course has no worked example for {template.title} yet")

    def available(self, course: str) -> list[str]:
        """Ids of the templates this course has a worked example for."""
        headings = [h.lower() for _, h in self._searcher.sections(course)]
        return [
            t.id
            for t in self._prompts.user_templates()
            if any(h.startswith(PREFIX + t.title.lower()) for h in headings)
        ]
