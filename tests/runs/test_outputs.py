"""--out checks: a file where a folder is wanted (and back), a wrong suffix, an unwritable place, a user's folder."""
import os

import pytest

from gankit.errors import GankitError
from gankit.runs.outputs import check_new_run_dir, check_out_dir, check_out_file


def test_out_dir(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(GankitError, match="is a file; give a folder"):
        check_out_dir(tmp_path / "f")
    with pytest.raises(GankitError, match="f is a file, not a folder"):
        check_out_dir(tmp_path / "f" / "sub" / "run")
    assert check_out_dir(tmp_path / "new" / "run") == tmp_path / "new" / "run"
    assert not (tmp_path / "new").exists()  # checking creates nothing


def test_out_file(tmp_path):
    with pytest.raises(GankitError, match="is a folder; give a file name ending in .png"):
        check_out_file(tmp_path, (".png", ".jpg"))
    with pytest.raises(GankitError, match="write .png, .jpg \\(the suffix picks the format\\)"):
        check_out_file(tmp_path / "x.bmp", (".png", ".jpg"))
    assert check_out_file(tmp_path / "sub" / "X.JPG", (".png", ".jpg")).name == "X.JPG"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_unwritable_places(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    with pytest.raises(GankitError, match="permission denied"):
        check_out_file(locked / "x.png")
    with pytest.raises(GankitError, match="permission denied"):
        check_out_dir(locked)


def test_a_new_run_never_lands_among_the_users_files(tmp_path):
    (tmp_path / "photos").mkdir()
    for name in ("a.jpg", "b.jpg", "c.jpg", "d.jpg"):
        (tmp_path / "photos" / name).write_text("x")
    with pytest.raises(GankitError, match="photos holds other files \\(a.jpg, b.jpg, c.jpg, ...\\) but no run"):
        check_new_run_dir(tmp_path / "photos")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / ".lock").write_text("")
    check_new_run_dir(tmp_path / "empty")
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.yaml").write_text("x")  # a run of gankit's own (e.g. diverged before a checkpoint)
    check_new_run_dir(tmp_path / "run")
