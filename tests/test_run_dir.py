"""--resume's check that a resumed run keeps the options it started with (run_dir.check_resume)."""

from dataclasses import replace

import pytest

from manipgym.agents.grpo import GRPORunConfig
from manipgym.agents.run_dir import check_resume, option_defaults, prepare, run_record, write_record
from manipgym.agents.sft import SFTRunConfig
from manipgym.agents.tiny_vlm import TinyVLMConfig


def _save_checkpoint(out, record: dict | None) -> None:
    checkpoint = out / "checkpoints" / "checkpoint-3"
    checkpoint.mkdir(parents=True)
    if record is not None:
        write_record(checkpoint, {**record, "step": 3})


def test_resume_may_change_how_long_and_where_a_run_computes_but_not_what_it_trains(tmp_path):
    run = GRPORunConfig(out=str(tmp_path), init="runs/sft")
    _save_checkpoint(tmp_path, run_record("grpo", run, 10))
    longer = replace(run, steps=200, save_steps=10, workers=8, device="cuda", resume=True, init="./runs/sft/")
    check_resume(tmp_path, run_record("grpo", longer, 10))  # nothing raised
    other = replace(run, learning_rate=1e-4, freeze_vision=False, resume=True)
    with pytest.raises(ValueError) as error:
        check_resume(tmp_path, run_record("grpo", other, 10))
    message = str(error.value)
    assert "--lr 0.0001 (the run used 5e-05); --freeze-vision False (the run used True)" in message
    assert message.endswith(f"({tmp_path / 'checkpoints' / 'checkpoint-3' / 'manipgym_train.json'} records them)")


def test_tiny_options_count_only_for_a_run_that_built_its_model(tmp_path):
    grounded, fresh = tmp_path / "grounded", tmp_path / "fresh"
    _save_checkpoint(grounded, run_record("sft", SFTRunConfig(out=str(grounded), init="runs/ground"), 10))
    _save_checkpoint(fresh, run_record("sft", SFTRunConfig(out=str(fresh)), 0))
    # a run from --init does not record the options that would have built a fresh model
    assert not {"tiny", "arch"} & run_record("sft", SFTRunConfig(out=str(grounded), init="runs/ground"), 10).keys()
    assert {"tiny", "arch"} <= run_record("sft", SFTRunConfig(out=str(fresh)), 0).keys()
    deeper = TinyVLMConfig(text_layers=4)
    check_resume(grounded, run_record("sft", SFTRunConfig(out=str(grounded), init="runs/ground", tiny=deeper), 10))
    with pytest.raises(ValueError, match="the TINY options"):
        check_resume(fresh, run_record("sft", SFTRunConfig(out=str(fresh), tiny=deeper), 0))


def test_an_option_newer_than_the_record_counts_as_its_default(tmp_path):
    run = SFTRunConfig(out=str(tmp_path), init="runs/ground")
    old_record = run_record("sft", run, 10)
    del old_record["nonce_colors"]  # written before --nonce-colors existed
    _save_checkpoint(tmp_path, old_record)
    defaults = option_defaults(run)
    assert defaults["nonce_colors"] == 0.0 and defaults["tiny"] == option_defaults(SFTRunConfig)["tiny"]
    check_resume(tmp_path, run_record("sft", replace(run, resume=True), 10), defaults)  # the default: nothing raised
    renamed = run_record("sft", replace(run, resume=True, nonce_colors=0.5), 10)
    with pytest.raises(ValueError) as error:
        check_resume(tmp_path, renamed, defaults)
    assert "--nonce-colors 0.5 (the run used 0.0, the default before the option existed)" in str(error.value)
    with pytest.raises(ValueError, match="--nonce-colors 0.5"):
        prepare(tmp_path, resume=True, record=renamed, defaults=defaults)


def test_a_checkpoint_without_a_record_is_not_checked(tmp_path):
    _save_checkpoint(tmp_path, None)  # saved by a version before checkpoints carried the record
    check_resume(tmp_path, run_record("grpo", GRPORunConfig(out=str(tmp_path), init="x", temperature=1.0), 0))


def test_a_finished_or_stopped_run_is_kept_unless_resumed_and_resume_needs_a_checkpoint(tmp_path):
    finished, stopped = tmp_path / "finished", tmp_path / "stopped"
    finished.mkdir()
    (finished / "config.json").write_text("{}")
    with pytest.raises(FileExistsError, match=r"already holds a model: pass --resume to continue, or choose another"):
        prepare(finished, resume=False)
    assert (finished / "config.json").read_text() == "{}"
    (stopped / "checkpoints" / "checkpoint-250").mkdir(parents=True)  # killed before its final model
    with pytest.raises(FileExistsError, match=r"holds a stopped run's checkpoints: pass --resume to continue it"):
        prepare(stopped, resume=False)
    assert prepare(stopped, resume=True) == stopped
    with pytest.raises(ValueError, match=r"holds a finished run with no checkpoint to resume from: choose another"):
        prepare(finished, resume=True)
    mistyped = tmp_path / "stoped"
    with pytest.raises(ValueError, match=r"holds no checkpoint to resume: check --out, or run without --resume"):
        prepare(mistyped, resume=True)
    assert not mistyped.exists()  # the error leaves no empty folder behind
