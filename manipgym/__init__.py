"""manipgym: benchmark and train vision-language models on simulated robot manipulation."""

import manipgym.envs  # noqa: F401  (registers the Gymnasium ids)

__version__ = "0.1.0"
