"""Answer parsing and verifiable rewards: pure functions, no simulator."""

from manipgym.rewards.answer import Answer, ParseFailure, format_answer, parse_answer

__all__ = ["Answer", "ParseFailure", "format_answer", "parse_answer"]
