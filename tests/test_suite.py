"""Benchmark suite: splits, manifests, the runner (resume, crashes), results, report, videos."""

import json

import imageio.v2 as imageio
import pytest

from manipgym.agents import OracleAgent, RandomAgent
from manipgym.benchmarks.results import FAILED_DISTANCE, report, summarise
from manipgym.benchmarks.runner import (
    RunConfig,
    RunFolderError,
    check_run_folder,
    episode_specs,
    load_episodes,
    run_suite,
)
from manipgym.envs import manifests
from manipgym.envs.instructions import TEMPLATES
from manipgym.envs.splits import OOD_SPLITS, SPLITS, TRAIN
from manipgym.envs.workers import EpisodeSpec, Worker


def test_every_held_out_value_is_absent_from_train():
    held_out = {
        "ood_color": set(SPLITS["ood_color"].colors) & set(TRAIN.colors),
        "ood_object": set(SPLITS["ood_object"].shapes) & set(TRAIN.shapes),
        "ood_layout": set(range(*SPLITS["ood_layout"].distractors)) & set(range(TRAIN.distractors[1] + 1)),
        "ood_lighting": set(SPLITS["ood_lighting"].table_colors) & set(TRAIN.table_colors),
    }
    assert all(not overlap for overlap in held_out.values()), held_out
    assert SPLITS["ood_layout"].distractors[0] > TRAIN.distractors[1]
    assert SPLITS["ood_lighting"].light_range[1] < TRAIN.light_range[0]
    assert TRAIN.camera_jitter == 0 < SPLITS["ood_camera"].camera_jitter
    for templates in TEMPLATES.values():
        assert not set(templates["ood"]) & set(templates[TRAIN.template_set])
    # each OOD split changes its own axis only
    for split in OOD_SPLITS:
        changed = {k for k, v in vars(SPLITS[split]).items() if v != vars(TRAIN)[k]}
        assert 1 <= len(changed) <= 2, (split, changed)


def test_shipped_manifest_is_the_generated_one_and_splits_share_no_seed():
    assert manifests.load_manifest() == json.loads(json.dumps(manifests.generate()))
    per_split = {
        split: {s for seeds in by_task.values() for s in seeds}
        for split, by_task in manifests.load_manifest()["episodes"].items()
    }
    splits = list(per_split)
    for i, a in enumerate(splits):
        for b in splits[i + 1 :]:
            assert not per_split[a] & per_split[b], (a, b)
    fresh = manifests.fresh_seeds(50, seed=3)
    assert len(set(fresh)) == 50 and not set(fresh) & manifests.all_manifest_seeds()
    assert manifests.fresh_seeds(50, seed=3) == fresh


def test_episode_specs_follow_the_manifest_or_fresh_seeds(tmp_path):
    config = RunConfig(out=str(tmp_path), tasks=["Lift"], splits=["test", "ood_color"], episodes=3)
    specs = episode_specs(config)
    assert [s.seed for s in specs[:3]] == manifests.load_manifest()["episodes"]["test"]["Lift"][:3]
    config.fresh_seeds = True
    fresh = episode_specs(config)
    assert len({s.seed for s in fresh}) == 6 and not {s.seed for s in fresh} & manifests.all_manifest_seeds()


def test_run_resume_results_and_videos(tmp_path):
    out = tmp_path / "run"
    config = RunConfig(
        out=str(out),
        tasks=["Lift", "Push"],
        splits=["test", "ood_color"],
        episodes=2,
        workers=2,
        record=1,
        agent="oracle",
    )
    path = run_suite(OracleAgent(), config, progress=False)
    rows = load_episodes(out)
    assert len(rows) == 8 and len(path.read_text().splitlines()) == 8
    assert sum(r["success"] for r in rows) >= 6
    with pytest.raises(RunFolderError, match="already holds a run: pass --resume"):
        run_suite(OracleAgent(), config, progress=False)
    # A run killed halfway: drop the last episodes (and tear a line); --resume finishes only those.
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:5]) + "\n" + lines[5][:20])
    config.resume = True
    run_suite(OracleAgent(), config, progress=False)
    after = path.read_text().splitlines()
    assert after[:5] == lines[:5] and len(load_episodes(out)) == 8
    results = summarise(out)
    assert results["schema_version"] == 1 and results["overall"]["episodes"] == 8
    cell = results["cells"][0]
    assert {"success_ci95", "affordance_iou", "dfd", "hd", "rmse", "endpoint", "format_valid_rate"} <= set(cell)
    assert (out / "summary.md").read_text().startswith("# manipgym results")
    assert (out / "success_by_split.png").stat().st_size > 1000
    videos = list((out / "videos").glob("*.mp4"))
    assert len(videos) == 1
    frames = [frame for frame in imageio.get_reader(videos[0])]  # list() would ask len(): inf
    steps = next(r for r in rows if videos[0].name.startswith(f"{r['task']}_{r['split']}_000"))["control_steps"]
    assert len(frames) == 1 + steps // 2 + 1 + 10  # first, every 2nd control step, last, label card
    table = report([out, out])
    lines = table.splitlines()
    assert lines[0] == "| run | test | ood_color | all |" and len(lines) == 4
    assert lines[2] == lines[3] and lines[2].startswith("| run | 100%")


def test_a_run_folder_that_cannot_take_the_run_is_refused_before_anything_is_written(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "episodes.jsonl").write_text("")  # a started run of the random agent
    (out / "config.json").write_text(json.dumps({"agent": "random", "checkpoint": None, "fresh_seeds": False}))
    refusals = {
        "was run with agent 'random', not 'oracle'": RunConfig(out=str(out), resume=True, agent="oracle"),
        "holds no run to resume: check --out": RunConfig(out=str(tmp_path / "typo"), resume=True),
        "is a file, not a folder": RunConfig(out=str(out / "config.json" / "sub")),
        "no episodes to run": RunConfig(out=str(tmp_path / "none"), splits=[]),
    }
    for message, config in refusals.items():
        with pytest.raises(RunFolderError, match=message):
            run_suite(RandomAgent(), config, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # nothing made
    # its own agent resumes, with more episodes, and --seed draws nothing without --fresh-seeds
    check_run_folder(RunConfig(out=str(out), resume=True, agent="random", episodes=9, fresh_seed=5))
    assert json.loads((out / "config.json").read_text())["agent"] == "random"  # the record kept


def test_unparseable_answers_count_as_failures_in_every_metric(tmp_path):
    class Garbage:
        name, needs_ground_truth = "garbage", False

        def act(self, observations):
            return ["no answer"] * len(observations)

    out = tmp_path / "garbage"
    run_suite(
        Garbage(), RunConfig(out=str(out), tasks=["Lift"], splits=["test"], episodes=2, workers=1), progress=False
    )
    m = summarise(out)["overall"]
    assert m["episodes"] == 2 and m["success_rate"] == 0 and m["format_valid_rate"] == 0
    assert m["affordance_iou"] == 0 and m["dfd"] == FAILED_DISTANCE and m["mean_reward"]["total"] == 0


def test_a_worker_that_dies_costs_only_its_episode():
    worker = Worker()
    try:
        worker.send("crash")
        reply = worker.receive()
        assert reply[0] == "died"
        worker.send("reset", EpisodeSpec("Lift", "test", 0, 1), False)
        assert worker.receive()[0] == "obs"
        worker.send("step", RandomAgent(seed=0).act([{}])[0])
        assert worker.receive()[0] == "result"
    finally:
        worker.close()
