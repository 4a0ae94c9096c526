"""One writer per run folder: an exclusive OS lock (flock) on `<run>/.lock`.

The lock belongs to the open file, so the kernel releases it when the process ends in any way
(exit, exception, kill -9); a stale `.lock` file left behind locks nothing. The file holds the
holder's PID, which a refused second process names. Within one process the lock is re-entrant
(the CLI takes it before checking the folder, the trainer again around its loop). A folder the
lock created and nothing else wrote to is removed again on release (a run refused early leaves no trace).
"""
from __future__ import annotations

import os
from pathlib import Path

from gankit.errors import GankitError

LOCK_FILE = ".lock"
_held: dict[Path, list] = {}  # resolved run folder -> [fd, count, created] for the locks this process holds;
# created: the highest folder that acquiring made (None when the run folder existed)


def _holder(path: Path) -> str:
    try:
        return path.read_text().strip() or "unknown"
    except OSError:
        return "unknown"


class RunLock:
    """`with RunLock(run_dir):` holds the run folder's lock (creating the folder); None holds nothing."""

    def __init__(self, run_dir: str | Path | None) -> None:
        self.run_dir = None if run_dir is None else Path(run_dir)
        self._key: Path | None = None

    def acquire(self) -> "RunLock":
        """Take the lock, or raise a GankitError naming the PID of the process that holds it."""
        if self.run_dir is None or self._key is not None:
            return self
        try:
            import fcntl
        except ImportError:  # no POSIX locks (Windows): one writer is up to the user
            return self
        missing = [p for p in [self.run_dir, *self.run_dir.parents] if not p.exists()]
        self.run_dir.mkdir(parents=True, exist_ok=True)
        key = self.run_dir.resolve()
        created = missing[-1].resolve() if missing else None
        if key in _held:
            _held[key][1] += 1
            self._key = key
            return self
        path = key / LOCK_FILE
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise GankitError(f"{self.run_dir} is being written by another gankit process (PID {_holder(path)}); "
                              "wait for it to finish, or choose another --out") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        _held[key] = [fd, 1, created]
        self._key = key
        return self

    def release(self) -> None:
        """Give the lock back (the last holder in this process closes the file, unlocking it)."""
        if self._key is None:
            return
        entry = _held[self._key]
        entry[1] -= 1
        if entry[1] == 0:
            del _held[self._key]
            if entry[2] is not None and [p.name for p in self._key.iterdir()] == [LOCK_FILE]:
                (self._key / LOCK_FILE).unlink()
                for folder in [self._key, *self._key.parents]:  # up to the highest folder acquire made
                    if any(folder.iterdir()):
                        break
                    folder.rmdir()
                    if folder == entry[2]:
                        break
            os.close(entry[0])
        self._key = None

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
