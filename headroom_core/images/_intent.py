"""What a question wants from an image: to read it (text, numbers, code, labels) or to
look at it (layout, colour, objects). Keyword sets over lower-cased words; linear time.

`question_intent(text)` returns "read", "visual" or None. Reading wins when both kinds
of words appear: keeping text legible is the safe side of a mixed question.
"""

from __future__ import annotations

import re

READ = "read"
VISUAL = "visual"

_WORD = re.compile(r"[a-z0-9]+")
_MAX_CHARS = 20_000
"""Only the first this-many characters of a question are looked at (bounded work)."""


def _wordset(words: str) -> frozenset[str]:
    return frozenset(words.split())


_READ_WORDS = _wordset(
    """
    read reads reading transcribe transcription ocr text texts word words wording written
    write spell spelled say says said quote quoted verbatim exact exactly
    number numbers numeric digit digits value values figure figures amount amounts
    total totals sum percent percentage price prices count date dates time timestamp
    code snippet function variable line lines error errors message messages log logs
    stack traceback exception output command commands terminal
    label labels labelled labeled legend legends axis axes tick ticks caption captions
    title titles heading headings name names column columns row rows cell cells table
    field fields menu button buttons link links url address version id
    """
)
_VISUAL_WORDS = _wordset(
    """
    layout layouts arranged arrangement arrange position positions positioned placement
    align aligned alignment spacing composition structure
    colour colours color colors coloured colored hue palette tint shade bright dark
    contrast theme style styling design look looks looking appearance aesthetic
    object objects thing things shape shapes animal animals person people face faces
    scene background foreground picture photo photograph photos landscape
    where size sizes big small large mood overall roughly shown depict depicts
    """
)


def question_intent(question: str | None) -> str | None:
    """'read' when the question asks for text, numbers, code or labels; 'visual' when it
    asks only about layout, colour or objects; None when it says neither (or is empty)."""
    if not question or not isinstance(question, str):
        return None
    words = set(_WORD.findall(question[:_MAX_CHARS].lower()))
    if words & _READ_WORDS:
        return READ
    if words & _VISUAL_WORDS:
        return VISUAL
    return None
