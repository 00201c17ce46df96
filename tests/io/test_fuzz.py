"""Fuzzing the readers (issue 17): seeded mutants of a valid file per reader, read in a child process with an
address-space cap, lowered read limits and a time cap; each must read or be refused with the file named."""
from __future__ import annotations

import pytest

from . import fuzz

#: Every mutant that once crashed a reader, as (format, run seed, index): the tests write them again.
KNOWN_CRASHERS = [
    ("dcm", 0, 154),  # ValueError from a lazily parsed RescaleIntercept '-\xfe024.0'
    ("dcm", 1, 226),  # ValueError: PixelSpacing '0.@', also parsed lazily
    ("mp4", 0, 9), ("mp4", 0, 91), ("mp4", 0, 164),  # AttributeError: a stream without a codec context
    ("svs", 0, 46), ("svs", 0, 65),  # ZeroDivisionError in tiffslide's lazily computed levels
    ("svs", 0, 47), ("svs", 0, 190),  # NotImplementedError: series.ndim / axes tiffslide does not support
    ("svs", 0, 200),  # ZeroDivisionError: Fraction(0, 0) resolution
    ("svs", 0, 329), ("svs", 1, 581),  # memory: 65363 samples per pixel, allocated by zarr (9.4 GB)
    ("svs", 0, 784),  # memory: a 256 x 2936013056 tile, allocated by the deflate decoder
    ("mp4", 0, 460), ("mp4", 1, 325),  # memory: FFmpeg's ENOMEM on an absurd atom size, raised as MemoryError
]


@pytest.fixture(scope="module")
def seeds(tmp_path_factory):
    return fuzz.make_seeds(tmp_path_factory.mktemp("fuzz-seeds"))


def _check(items, outcomes):
    table = fuzz.summarise(items, outcomes)
    findings = [(fmt, kind, path.name, outcomes[str(path)]) for fmt, kind, path in items
                if outcomes[str(path)].split(":", 1)[0] in ("crash", "memory", "hang")]
    assert not findings, findings
    return table


def test_seeds_read(seeds):
    items = [(fmt, "seed", path) for fmt, path in seeds.items()]
    outcomes = fuzz.run_mutants([path for _, _, path in items])
    assert all(outcome == "ok" for outcome in outcomes.values()), outcomes


def test_known_crashers_are_refused_cleanly(seeds, tmp_path):
    items = []
    for fmt, seed, index in KNOWN_CRASHERS:
        kind, path = fuzz.write_mutant(seeds[fmt], fmt, seed, index, tmp_path / "corpus")
        items.append((fmt, kind, path))
    _check(items, fuzz.run_mutants([path for _, _, path in items]))


def test_fuzz_every_reader_quick(seeds, tmp_path):
    items = fuzz.write_mutants(seeds, per_format=27, seed=2026, folder=tmp_path / "mutants")
    table = _check(items, fuzz.run_mutants([path for _, _, path in items]))
    assert set(table) == set(seeds)
    for fmt, counts in table.items():
        assert counts["refused"] > 0, (fmt, counts)  # the mutants do break things: the harness can fail


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1])
def test_fuzz_every_reader_thousands(seeds, tmp_path, seed):
    items = fuzz.write_mutants(seeds, per_format=1000, seed=seed, folder=tmp_path / "mutants")
    table = _check(items, fuzz.run_mutants([path for _, _, path in items], timeout_s=3600))
    print({fmt: dict(counts) for fmt, counts in table.items()})


def test_harness_tells_findings_from_refusals(tmp_path):
    from biomedai.errors import InvalidInputError

    path = tmp_path / "x.png"

    def raising(error):
        def read(_path):
            raise error
        return read

    assert fuzz.read_outcome(path, lambda _p: None) == "ok"
    assert fuzz.read_outcome(path, raising(InvalidInputError("bad", path))) == "refused"
    assert fuzz.read_outcome(path, raising(InvalidInputError("bad, no name"))).startswith("crash:unnamed")
    assert fuzz.read_outcome(path, raising(ZeroDivisionError("x"))).startswith("crash:ZeroDivisionError")
    assert fuzz.read_outcome(path, raising(MemoryError())) == "memory"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 10)
    assert fuzz.run_mutants([path]) == {str(path): "refused"}
