"""One writer per run folder: an OS lock that a second process cannot take, released even by kill -9."""
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from gankit.errors import GankitError
from gankit.runs.lock import LOCK_FILE, RunLock
from tests.conftest import run_cli

ROOT = Path(__file__).resolve().parents[2]


def _holder(run_dir: Path) -> subprocess.Popen:
    """Another process that takes the run folder's lock and sleeps (it prints 'locked' once it holds it)."""
    code = textwrap.dedent(f"""
        import time
        from gankit.runs.lock import RunLock
        RunLock({str(run_dir)!r}).acquire()
        print("locked", flush=True)
        time.sleep(60)
    """)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_a_second_process_is_refused_with_the_holders_pid_until_it_is_killed(tmp_path):
    run_dir = tmp_path / "race"
    proc = _holder(run_dir)
    try:
        with pytest.raises(GankitError, match=f"{run_dir} is being written by another gankit process \\(PID {proc.pid}\\)"):
            RunLock(run_dir).acquire()
    finally:
        proc.send_signal(signal.SIGKILL)  # no clean-up code runs: the kernel drops the lock
        proc.wait()
    with RunLock(run_dir):
        assert (run_dir / LOCK_FILE).read_text().strip() == str(os.getpid())


def test_the_lock_is_reentrant_in_one_process_and_removes_a_folder_it_made_for_nothing(tmp_path):
    run_dir = tmp_path / "runs" / "new"
    with RunLock(run_dir):
        with RunLock(run_dir):  # the CLI holds it, then the trainer takes it again
            pass
        proc_code = f"from gankit.runs.lock import RunLock; RunLock({str(run_dir)!r}).acquire()"
        result = subprocess.run([sys.executable, "-c", proc_code], capture_output=True, text=True,
                                env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert result.returncode != 0 and f"PID {os.getpid()}" in result.stderr  # still held after the inner release
    assert list(tmp_path.iterdir()) == []  # nothing but the lock was written: no half-made folder (nor runs/) is left
    kept = tmp_path / "kept"
    with RunLock(kept):
        (kept / "config.yaml").write_text("x")
    assert (kept / "config.yaml").exists()


@pytest.mark.parametrize("resume", [False, True])
def test_train_and_resume_refuse_a_locked_run_folder_in_one_line(monkeypatch, capsys, tmp_path, resume):
    run_dir = tmp_path / "race"
    proc = _holder(run_dir)
    try:
        args = ["--resume", run_dir] if resume else ["toy-gan", "steps=1", "--out", run_dir]
        code, out, err = run_cli(monkeypatch, capsys, "train", *args)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert code == 2 and err == f"error: {run_dir} is being written by another gankit process (PID {proc.pid}); " \
                                 "wait for it to finish, or choose another --out\n"
    assert "training" not in out and sorted(p.name for p in run_dir.iterdir()) == [LOCK_FILE]
