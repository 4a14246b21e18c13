import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from engine_toy import make_job

import genkit
from genkit.train import InterruptedRun, Trainer
from genkit.train.checkpoint import latest_checkpoint


class _SignalAt:
    """A plugin whose step hook sends this process SIGTERM at ``step`` (seen at the next step)."""

    def __init__(self, step):
        self.step = step

    @genkit.hookimpl
    def genkit_step_end(self, stage, step, metrics):
        if step == self.step:
            os.kill(os.getpid(), signal.SIGTERM)


def _plugins_with(obj):
    from genkit.plugins.manager import Plugins

    plugins = Plugins(env={"GENKIT_LOAD_PLUGINS": ""}).load()
    plugins.register_plugin(obj, "signal_at")
    return plugins


def _assert_same_state(a: Trainer, b: Trainer):
    for (name, p), q in zip(a.model.state_dict().items(), b.model.state_dict().values(), strict=True):
        assert torch.equal(p, q), name
    sa, sb = a.optimizer.state_dict()["state"], b.optimizer.state_dict()["state"]
    assert sa.keys() == sb.keys()
    for key in sa:
        for field in sa[key]:
            assert torch.equal(torch.as_tensor(sa[key][field]), torch.as_tensor(sb[key][field])), (key, field)
    for name in a.ema.shadow:
        assert torch.equal(a.ema.shadow[name], b.ema.shadow[name])


def test_resume_after_sigterm_is_bit_exact(tmp_path):
    straight = Trainer(make_job(tmp_path / "straight"), progress=False)
    straight_metrics = straight.fit()

    first = Trainer(make_job(tmp_path / "split"), plugins=_plugins_with(_SignalAt(5)), progress=False)
    with pytest.raises(InterruptedRun, match="interrupted at step 6/12"):
        first.fit()
    assert latest_checkpoint(tmp_path / "split").name == "step_00000006"
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # handlers restored

    torch.manual_seed(1234)  # a different RNG state before resuming: the checkpoint must restore it
    resumed = Trainer(make_job(tmp_path / "split"), progress=False)
    assert resumed.fit() == straight_metrics
    assert resumed.step == 12
    _assert_same_state(straight, resumed)
    lines = [json.loads(row) for row in (tmp_path / "split" / "metrics.jsonl").read_text().splitlines()]
    straight_lines = [json.loads(row) for row in (tmp_path / "straight" / "metrics.jsonl").read_text().splitlines()]
    assert [row["loss"] for row in lines] == [row["loss"] for row in straight_lines]  # one uninterrupted log


def test_corrupt_or_mismatched_checkpoint_is_a_clear_error(tmp_path, capsys):
    Trainer(make_job(tmp_path, steps=4, checkpoint_every=2), progress=False).fit()
    latest = latest_checkpoint(tmp_path)
    older = sorted((tmp_path / "checkpoints").iterdir())[0]
    state = latest / "state.pt"
    state.write_bytes(state.read_bytes()[:100])
    # the newest is corrupt: resume falls back to the older intact one, and says so
    fallback = Trainer(make_job(tmp_path / "copy", steps=4, checkpoint_every=2), progress=False)
    import shutil

    shutil.copytree(tmp_path / "checkpoints", tmp_path / "copy" / "checkpoints")
    fallback.fit()
    err = capsys.readouterr().err
    assert "truncated or corrupt checkpoint" in err and "falling back to" in err and "resuming from step 2" in err
    assert "weights_only" not in err
    # the only checkpoint corrupt: a one-line error, nothing overwritten
    shutil.rmtree(older)
    with pytest.raises(genkit.ExportError, match="truncated or corrupt checkpoint") as info:
        Trainer(make_job(tmp_path, steps=8, checkpoint_every=2), progress=False).fit()
    assert "weights_only" not in str(info.value) and len(str(info.value).splitlines()) == 1
    assert state.stat().st_size == 100 and latest_checkpoint(tmp_path) == latest  # nothing overwritten
    with pytest.raises(genkit.ExportError, match="does not match this run"):
        Trainer(make_job(tmp_path, steps=8, batch=16), progress=False).fit()
    fresh = Trainer(make_job(tmp_path, steps=2, checkpoint_every=2), progress=False)
    fresh.fit(resume=False)  # --no-resume starts over
    assert fresh.step == 2


def test_sigterm_in_a_subprocess_checkpoints_and_resumes(tmp_path):
    script = Path(__file__).with_name("engine_toy.py")
    env = {**os.environ, "PYTHONPATH": str(Path(genkit.__file__).parents[1])}
    proc = subprocess.Popen([sys.executable, str(script), str(tmp_path)], env=env, stderr=subprocess.PIPE, text=True)
    metrics = tmp_path / "metrics.jsonl"
    deadline = time.time() + 60
    while time.time() < deadline and (not metrics.exists() or len(metrics.read_text().splitlines()) < 3):
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode != 0 and "interrupted at step" in err
    stopped = latest_checkpoint(tmp_path)
    step = int(stopped.name.split("_")[1])
    assert 3 <= step < 400
    resumed = Trainer(make_job(tmp_path, steps=step + 2), progress=False)
    resumed.fit()
    assert resumed.step == step + 2
