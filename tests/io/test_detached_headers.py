"""Detached NRRD/MetaImage headers may only read data files inside their own folder (issue 17, finding 1)."""
from __future__ import annotations

import os

import numpy as np
import pytest

from biomedai.errors import InvalidInputError
from biomedai.io import read_image
from biomedai.io.limits import read_limits

SECRET = b"secret-bytes-0123456789abcdef"  # 29 bytes, read as a 29 x 1 uint8 image when the hole is open


def _mhd(path, data_file: str, extra: str = "") -> str:
    path.write_text(f"ObjectType = Image\nNDims = 2\nDimSize = {len(SECRET)} 1\nElementType = MET_UCHAR\n"
                    f"ElementDataFile = {data_file}\n{extra}")
    return str(path)


def _nhdr(path, data_file: str, extra: str = "") -> str:
    path.write_text(f"NRRD0004\ntype: uint8\ndimension: 2\nsizes: {len(SECRET)} 1\nencoding: raw\n"
                    f"data file: {data_file}\n{extra}\n")
    return str(path)


@pytest.fixture
def layout(tmp_path):
    """``tmp/secret.bin`` (the target) and an empty ``tmp/upload/`` folder for headers."""
    (tmp_path / "secret.bin").write_bytes(SECRET)
    (tmp_path / "upload").mkdir()
    return tmp_path


def _cases(root):
    up = root / "upload"
    secret = str(root / "secret.bin")
    return {
        "mha absolute": _mhd(up / "a.mha", secret),
        "mhd dotdot": _mhd(up / "b.mhd", "../secret.bin"),
        "mhd LIST": _mhd(up / "c.mhd", "LIST", "../secret.bin\n"),
        "mhd pattern": _mhd(up / "d.mhd", "../secret%d.bin 1 1 1"),
        "mhd lower-case key": str(_write(up / "e.mhd", (up / "b.mhd").read_text().replace("ElementDataFile",
                                                                                          "elementdatafile"))),
        "nrrd absolute": _nhdr(up / "f.nhdr", secret),
        "nrrd dotdot": _nhdr(up / "g.nhdr", "../secret.bin"),
        "nrrd LIST": _nhdr(up / "h.nhdr", "LIST", "../secret.bin"),
        "nrrd datafile key": str(_write(up / "i.nhdr", (up / "f.nhdr").read_text().replace("data file:",
                                                                                               "datafile:"))),
        "nrrd attached suffix": _nhdr(up / "j.nrrd", "../secret.bin"),
    }


@pytest.fixture
def cli_logging():
    import logging

    logger = logging.getLogger("biomedai")
    handlers, level = list(logger.handlers), logger.level
    yield
    logger.handlers[:] = handlers
    logger.setLevel(level)


def _write(path, text):
    path.write_text(text)
    return path


def _leaked(path) -> bool:
    try:
        image = read_image(path)
    except InvalidInputError:
        return False
    return bytes(np.asarray(image.array).astype(np.uint8).ravel()) == SECRET


def test_headers_naming_files_outside_their_folder_are_refused(layout):
    for case, path in _cases(layout).items():
        with pytest.raises(InvalidInputError, match="outside the header's folder") as info:
            read_image(path)
        assert os.path.basename(path) in str(info.value), case


def test_a_symlink_next_to_the_header_that_leads_out_is_refused(layout):
    up = layout / "upload"
    (up / "data.raw").symlink_to(layout / "secret.bin")
    for path in (_mhd(up / "s.mhd", "data.raw"), _nhdr(up / "s.nhdr", "data.raw")):
        with pytest.raises(InvalidInputError, match="outside the header's folder"):
            read_image(path)


def test_data_files_inside_the_folder_still_read(layout):
    up = layout / "upload"
    (up / "sub").mkdir()
    (up / "sub" / "data.raw").write_bytes(SECRET)
    (up / "data.raw").write_bytes(SECRET)
    for path in (_mhd(up / "ok.mhd", "data.raw"), _mhd(up / "ok2.mhd", "sub/data.raw"),
                 _nhdr(up / "ok.nhdr", "./data.raw"), _mhd(up / "ok3.mhd", "LIST", "data.raw\n")):
        assert _leaked(path), path  # here "leaked" means: the data file next to the header was read


def test_opting_in_reads_outside_files(layout):
    path = _mhd(layout / "upload" / "a.mha", str(layout / "secret.bin"))
    with read_limits(allow_external_data=True):
        assert _leaked(path)
    assert not _leaked(path)  # the default is back after the block


def test_cli_refuses_unless_the_user_opts_in(layout, capsys, cli_logging):
    from biomedai.cli import main

    path = _mhd(layout / "upload" / "a.mha", str(layout / "secret.bin"))
    assert main(["info", path]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "outside the header's folder" in err and "--allow-external-data" in err
    try:
        assert main(["--allow-external-data", "info", path]) == 0
    finally:
        from biomedai.io.limits import set_default_limits

        set_default_limits(allow_external_data=False)
