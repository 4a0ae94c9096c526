"""Search order, atomic md5-checked downloads, content checks, archive extraction."""
import hashlib
import tarfile

import pytest

from gankit.data import sources
from gankit.errors import GankitError


def test_search_order(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("GANKIT_DATA", raising=False)
    assert sources.data_home() == tmp_path / "home" / ".cache" / "gankit"
    assert sources.search_dirs("fashion-mnist", tmp_path / "r") == [
        tmp_path / "r", tmp_path / "home" / ".cache" / "gankit" / "fashion-mnist",
        sources.Path("/usr/share/datasets/fashion-mnist"),
    ]
    monkeypatch.setenv("GANKIT_DATA", str(tmp_path / "g"))
    assert sources.data_home() == tmp_path / "g"
    cache = tmp_path / "home" / ".cache" / "gankit"
    assert sources.search_dirs("mnist", None) == [tmp_path / "g" / "mnist", cache / "mnist"]


def test_find_file_prefers_raw(tmp_path):
    (tmp_path / "a.gz").write_bytes(b"")
    assert sources.find_file(tmp_path, "a") == tmp_path / "a.gz"
    (tmp_path / "a").write_bytes(b"")
    assert sources.find_file(tmp_path, "a") == tmp_path / "a"
    assert sources.find_file(tmp_path, "b") is None


def test_download_checks_md5_and_is_atomic(tmp_path):
    src = tmp_path / "src.bin"
    src.write_bytes(b"hello" * 1000)
    md5 = hashlib.md5(src.read_bytes()).hexdigest()
    dest = tmp_path / "out" / "file.bin"
    assert sources.download(src.as_uri(), dest, md5) == dest and dest.read_bytes() == src.read_bytes()
    with pytest.raises(GankitError, match="checksum mismatch for other.bin"):
        sources.download(src.as_uri(), tmp_path / "out" / "other.bin", "0" * 32)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["file.bin"]


def test_check_content_names_the_file(tmp_path):
    sources.check_content(b"abc", hashlib.md5(b"abc").hexdigest(), tmp_path / "f")
    sources.check_content(b"abc", None, tmp_path / "f")
    with pytest.raises(GankitError, match="f does not hold the official data"):
        sources.check_content(b"abd", hashlib.md5(b"abc").hexdigest(), tmp_path / "f")


def test_extract_tar_refuses_escaping_members(tmp_path):
    evil = tmp_path / "evil.txt"
    evil.write_text("x")
    archive = tmp_path / "a.tar"
    with tarfile.open(archive, "w") as tar:
        tar.add(evil, arcname="../escaped.txt")
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(GankitError, match="not a valid archive"):
        sources.extract_tar(archive, dest, "member")
    assert not (tmp_path / "escaped.txt").exists() and list(dest.iterdir()) == []
