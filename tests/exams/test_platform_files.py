"""`stepper exam --format qti,canvas`: the packages are written beside the Moodle quiz, marked as stepper's (the
zip's comment), so that the next exam into the folder replaces them."""

from __future__ import annotations

import zipfile

from stepper.writing.output import ZIP_MARK, written_by_stepper
from tests.helpers import ROOT
from tests.helpers.one_line import run_stepper

TEMPLATE = ROOT / "examples" / "tutorial-exam.toml"


def test_qti_and_canvas_packages_are_written_and_replaced(tmp_path, capsys):
    args = ["exam", TEMPLATE, "--variants", "2", "--seed", "3", "--format", "md,qti,canvas", "--out", tmp_path / "e"]
    code, out, err = run_stepper(capsys, *args)
    assert code == 0, err
    for name in ("qti.zip", "canvas.zip"):
        package = tmp_path / "e" / name
        assert written_by_stepper(package)
        with zipfile.ZipFile(package) as z:
            assert z.comment == ZIP_MARK and "imsmanifest.xml" in z.namelist()
    first = (tmp_path / "e" / "qti.zip").read_bytes()
    code, out, err = run_stepper(capsys, *args)
    assert code == 0, err
    assert (tmp_path / "e" / "qti.zip").read_bytes() == first  # the same exam, the same bytes


def test_a_zip_of_ones_own_is_not_stepper_s(tmp_path):
    mine = tmp_path / "qti.zip"
    with zipfile.ZipFile(mine, "w") as z:
        z.writestr("notes.txt", "mine")
    assert not written_by_stepper(mine)
    (tmp_path / "broken.zip").write_bytes(b"PK\x03\x04 not really")
    assert not written_by_stepper(tmp_path / "broken.zip")
