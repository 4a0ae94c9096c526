"""End-to-end `gankit eval` speed: wall time and peak memory for 10k samples of the demo-sized dcgan.

    python benchmarks/eval_speed.py [--run RUN] [-n 10000] [--metrics fid,kid,is,pr,dc]
                                    [--extractor fmnist-cnn] [--weights FILE] [--repeats 3]

Without --run, the `dcgan` preset (the model `make demo` trains) is trained for one step into a
temporary run folder: sampling an untrained G costs the same as a trained one. Every case is a
fresh `gankit eval` subprocess, timed from launch to exit, and its peak resident memory is that
child's own `ru_maxrss` (os.wait4), so the numbers include Python and torch start-up, which the
`startup` case (`gankit eval --help`) shows on its own. Cases:
- cold: an empty statistics cache, so the reference split (Fashion-MNIST test, 10k) and the floor's
  10k train images are extracted and cached as well as the n generated images;
- warm: the same command again (reference and floor read from the cache), median of --repeats.
Prints a Markdown table; GUIDE §9: name the machine beside the numbers, and take them on a quiet one.
"""
from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def timed(cmd: list[str], env: dict) -> tuple[float, float]:
    """(wall seconds, peak RSS in MiB) of one subprocess; raises if it fails."""
    with tempfile.TemporaryFile() as log:  # a file, not a pipe: a chatty child never blocks
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            log.seek(0)
            raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{log.read().decode()}")
    return wall, usage.ru_maxrss / 1024  # ru_maxrss is KiB on Linux


def cpu_name() -> str:
    """The CPU model (Linux /proc/cpuinfo), else platform's guess."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, help="run folder to evaluate (default: a one-step dcgan run)")
    parser.add_argument("-n", type=int, default=10_000)
    parser.add_argument("--metrics", default="fid,kid,is,pr,dc")
    parser.add_argument("--extractor", default="fmnist-cnn")
    parser.add_argument("--weights", help="extractor weights (default: the shipped ones)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="gankit-eval-bench-"))
    env = dict(os.environ, GANKIT_CACHE=str(work / "cache"))
    gankit = [sys.executable, "-m", "gankit"]
    try:
        run = args.run
        if run is None:
            run = work / "dcgan"
            subprocess.run(gankit + ["train", "dcgan", "steps=1", "log.progress=false", "--out", str(run)],
                           env=env, check=True, capture_output=True)
        command = gankit + ["eval", str(run), "--metrics", args.metrics, "-n", str(args.n), "--extractor", args.extractor, "-q"]
        if args.weights:
            command += ["--weights", args.weights]
        print(f"machine: {cpu_name()}, {os.cpu_count()} logical CPUs; {' '.join(command[2:])}\n")
        print("| case | wall s | peak RSS MiB |\n|---|---|---|")
        wall, rss = timed(gankit + ["eval", "--help"], env)
        print(f"| startup (`gankit eval --help`) | {wall:.1f} | {rss:.0f} |", flush=True)
        wall, rss = timed(command, env)
        print(f"| cold: {args.n:,} samples + reference and floor extracted | {wall:.1f} | {rss:.0f} |", flush=True)
        runs = [timed(command, env) for _ in range(args.repeats)]
        print(f"| warm: {args.n:,} samples, cached reference (median of {args.repeats}) | "
              f"{statistics.median(w for w, _ in runs):.1f} | {max(r for _, r in runs):.0f} |")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
