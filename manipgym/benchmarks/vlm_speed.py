"""Answers per second of a freshly built tiny VLM (build-tiny-vlm's shape) on this machine, quoted in the README.

    python -m manipgym.benchmarks.vlm_speed [--arch qwen2_5_vl] [--tokens 64] [--repeats 5]

Builds an untrained tiny model of ``build-tiny-vlm``'s default shape in a temporary directory,
renders real observations, and times ``VLMAgent.act`` for batches of 1 and 8 with exactly
``--tokens`` new tokens per answer (an untrained model may stop early, so the end-of-answer
token is held back while timing).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time

import gymnasium as gym
import torch

import manipgym  # noqa: F401
from manipgym.agents.tiny_vlm import ARCHITECTURES, build_tiny_vlm
from manipgym.agents.vlm import VLMAgent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", choices=ARCHITECTURES, default="qwen2_5_vl", help="model family (default qwen2_5_vl)")
    parser.add_argument("--tokens", type=int, default=64, help="new tokens per answer (default 64)")
    parser.add_argument("--repeats", type=int, default=5, help="timed calls per batch size (default 5)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        agent = VLMAgent(build_tiny_vlm(args.arch, tmp), max_new_tokens=args.tokens)
        agent.model.generation_config.min_new_tokens = args.tokens
        params = sum(p.numel() for p in agent.model.parameters())
        env = gym.make("manipgym/PickPlace-v0")
        observations = [env.reset(seed=s)[0] for s in range(8)]
        env.close()
        print(f"{args.arch} tiny VLM, {params / 1e6:.2f} M parameters, {torch.get_num_threads()} threads, CPU")
        print(f"\n| batch | seconds per call ({args.tokens} new tokens each) | answers/s |")
        print("|---|---|---|")
        for batch in (1, 8):
            agent.act(observations[:batch])  # warm-up
            started = time.perf_counter()
            for _ in range(args.repeats):
                agent.act(observations[:batch])
            seconds = (time.perf_counter() - started) / args.repeats
            print(f"| {batch} | {seconds:.3f} | {batch / seconds:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
