"""A Griffe extension for the API reference: the docstrings' reStructuredText habits, read as Markdown.

chainrule's docstrings name other objects with Sphinx roles (``:func:`find_lr```,
``:class:`~chainrule.train.History```) and end a line with ``::`` before an
indented example. mkdocstrings renders docstrings as Markdown, where both
would show as written. This extension rewrites each role as inline code (the
last dotted part alone when the target starts with ``~``, as Sphinx shows it)
and a closing ``::`` as ``:``, so the indented block after it reads as code.
mkdocs.yml loads it for the Python handler; nothing in the library imports it.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

ROLE = re.compile(r":(?:py:)?(?:func|class|meth|mod|attr|data|exc|obj|const):`(~?)([^`]+)`")
LITERAL_BLOCK = re.compile(r"(?<=\S)::$", re.MULTILINE)


def _role(match: re.Match[str]) -> str:
    target = match.group(2)
    return f"`{target.rsplit('.', 1)[-1] if match.group(1) else target}`"


def rewrite(text: str) -> str:
    """``text`` with Sphinx roles as inline code and ``::`` line ends as ``:``."""
    return LITERAL_BLOCK.sub(":", ROLE.sub(_role, text))


class SphinxRoles(griffe.Extension):
    def on_object(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = rewrite(obj.docstring.value)
