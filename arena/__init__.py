"""arena: rank language models without reference answers.

Public names are re-exported here; importing this package must stay cheap (no litellm, no vllm).
"""

from arena.errors import ArenaError, BadInput
from arena.records import (
    LABELS,
    Battle,
    Game,
    Label,
    Match,
    MatchContext,
    Output,
    Prompt,
    Verdict,
)

__version__ = "0.1.0"

__all__ = [
    "ArenaError",
    "BadInput",
    "LABELS",
    "Battle",
    "Game",
    "Label",
    "Match",
    "MatchContext",
    "Output",
    "Prompt",
    "Verdict",
    "__version__",
]
