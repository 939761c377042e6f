"""The prompt a VLM sees: a template from ``manipgym/assets/prompts`` filled with the instruction."""

from __future__ import annotations

from functools import lru_cache
from importlib.resources import files

DEFAULT_TEMPLATE = "default"


@lru_cache(maxsize=8)
def load_template(name: str = DEFAULT_TEMPLATE) -> str:
    """A prompt template by name (a file in ``manipgym/assets/prompts``, without ``.txt``)."""
    path = files("manipgym") / "assets" / "prompts" / f"{name}.txt"
    if not path.is_file():
        raise FileNotFoundError(f"no prompt template {name!r} in manipgym/assets/prompts")
    return path.read_text().strip()


def build_prompt(instruction: str, template: str = DEFAULT_TEMPLATE) -> str:
    """The user message for one instruction (``{instruction}`` filled in; ``{{``/``}}`` are braces)."""
    return load_template(template).format(instruction=instruction)
