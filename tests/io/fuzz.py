"""A small fuzzing harness for the readers: seeded mutants of valid files, read in a capped child process.

Every mutant must either read or raise a :class:`~biomedai.errors.BiomedaiError` whose message names
the file. Anything else is a finding: ``crash`` (another exception, or the child died), ``memory``
(MemoryError under the address-space cap) or ``hang`` (over the time cap). The child runs with
read limits lowered (``BIOMEDAI_MAX_PIXELS``/``BIOMEDAI_MAX_BYTES``) and an address-space cap, so
a reader that allocates what a header declares without checking it fails here.

Run by hand: ``python -m tests.io.fuzz --per-format 500`` prints counts per format
(``BIOMEDAI_FUZZ_SRC=/other/checkout/src`` reads the mutants with another version's readers).
"""
from __future__ import annotations

import json
import os
import re
import struct
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
#: Caps of the child that reads the mutants.
CHILD_MEMORY_BYTES = 3 * 1024 ** 3
PER_FILE_SECONDS = 30  # generous: the tests run on loaded 2-core machines
CHILD_ENV = {"BIOMEDAI_MAX_PIXELS": str(1 << 24), "BIOMEDAI_MAX_BYTES": str(1 << 27), "OMP_NUM_THREADS": "1",
             "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
IMAGE = np.add.outer(np.arange(30, dtype=np.uint16) * 7, np.arange(40, dtype=np.uint16)).astype(np.uint16)


# ------------------------------------------------------------------------------------------ seeds
def make_seeds(folder: Path) -> dict[str, Path]:
    """One valid file per reader (format name -> path)."""
    from biomedai.io import Image, write_image
    from biomedai.io.star import write_star
    from biomedai.io.video import write_video
    from biomedai.io.wsi import write_pyramidal_tiff

    folder.mkdir(parents=True, exist_ok=True)
    seeds: dict[str, Path] = {}
    volume = Image(np.stack([IMAGE.astype(np.float32)] * 3), spacing=(2.0, 1.0, 1.0), spacing_unit="mm")
    for name, image in (("png", IMAGE), ("tif", IMAGE), ("nii", volume), ("nii.gz", volume), ("nrrd", volume),
                        ("mha", volume), ("mrc", volume)):
        seeds[name] = write_image(image, folder / f"seed.{name}", **({"compress": False} if name == "mha" else {}))
    seeds["jpg"] = write_image((IMAGE % 256).astype(np.uint8), folder / "seed.jpg")
    seeds["dcm"] = _dicom_seed(folder / "seed.dcm")
    seeds["star"] = write_star(folder / "seed.star", {"particles": {"rlnCoordinateX": [1.0, 2.5],
                                                                   "rlnCoordinateY": [3.0, 4.0],
                                                                   "rlnClassName": ["a b", "c"]}})
    rgb = np.repeat((IMAGE % 256).astype(np.uint8)[..., None], 3, axis=-1)
    seeds["mp4"] = write_video([rgb, rgb[::-1]], folder / "seed.mp4", fps=5)
    seeds["svs"] = write_pyramidal_tiff(np.repeat(np.tile(rgb, (4, 4, 1)), 1, axis=0), folder / "seed.svs", mpp=0.5)
    return seeds


def _dicom_seed(path: Path) -> Path:
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    meta.MediaStorageSOPInstanceUID = generate_uid(entropy_srcs=["fuzz"])
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.Modality, ds.StudyInstanceUID, ds.SeriesInstanceUID = "CT", "1.2.3", "1.2.3.4"
    ds.Rows, ds.Columns, ds.PixelSpacing = 30, 40, [0.5, 0.5]
    ds.RescaleSlope, ds.RescaleIntercept = 1.0, -1024.0
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.PixelData = IMAGE.tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


# ------------------------------------------------------------------------------------------ mutants
MUTATIONS = ("truncate", "flip", "zero_header", "dims_huge", "dims_zero", "dims_negative", "wrong_suffix",
             "external_ref", "nan_fields")
_OTHER_SUFFIX = {"png": ".dcm", "tif": ".png", "nii": ".nrrd", "nii.gz": ".mrc", "nrrd": ".mha", "mha": ".nii",
                 "mrc": ".tif", "jpg": ".png", "dcm": ".nii", "star": ".dcm", "mp4": ".png", "svs": ".dcm"}


def _replace_numbers(data: bytes, values: tuple[int, ...], new: int, rng: np.random.Generator) -> bytes:
    """Replace encodings of the seed's dimensions (binary ints of 2/4 bytes, both byte orders, and ASCII)."""
    head, tail = bytearray(data[:2048]), data[2048:]
    for value in values:
        for fmt in ("<H", ">H", "<I", ">I", "<i", ">i"):
            try:
                old, repl = struct.pack(fmt, value), struct.pack(fmt, new % (1 << (8 * struct.calcsize(fmt)))
                                                                  if fmt[1] in "HI" else new)
            except struct.error:
                continue
            starts = [m.start() for m in re.finditer(re.escape(old), bytes(head))]
            for start in rng.permutation(starts)[:2] if starts else []:
                head[start:start + len(old)] = repl
        text = re.sub(rb"(?<![0-9.])%d(?![0-9.])" % value, str(new).encode(), bytes(head))
        if len(text) == len(head) or b"\0" not in bytes(head[:512]):
            head = bytearray(text)
    return bytes(head) + tail


def mutate(data: bytes, kind: str, fmt: str, rng: np.random.Generator, folder: Path) -> tuple[bytes, str]:
    """One mutant's bytes and suffix."""
    suffix = "." + fmt
    if kind == "truncate":
        return data[: int(rng.integers(0, len(data)))], suffix
    if kind == "flip":
        out = bytearray(data)
        for _ in range(int(rng.integers(1, 9))):
            out[int(rng.integers(0, len(out)))] = int(rng.integers(0, 256))
        return bytes(out), suffix
    if kind == "zero_header":
        n = int(rng.integers(4, min(len(data), 1024)))
        start = int(rng.integers(0, max(1, min(len(data), 1024) - n)))
        return data[:start] + bytes(n) + data[start + n:], suffix
    if kind in ("dims_huge", "dims_zero", "dims_negative"):
        new = {"dims_huge": int(rng.choice([65535, 1 << 20, (1 << 31) - 1, 4_000_000])), "dims_zero": 0,
               "dims_negative": -int(rng.integers(1, 1000))}[kind]
        return _replace_numbers(data, (30, 40, 3), new, rng), suffix
    if kind == "wrong_suffix":
        return data, _OTHER_SUFFIX.get(fmt, ".png")
    if kind == "external_ref":
        target = rng.choice(["/etc/passwd", "../../outside.raw", "../secret.raw", "LIST\n/etc/hosts"])
        if fmt in ("nrrd", "mha"):
            header = (f"NRRD0004\ntype: float\ndimension: 3\nsizes: 40 30 3\nencoding: raw\ndata file: {target}\n\n"
                      if fmt == "nrrd" else
                      f"ObjectType = Image\nNDims = 3\nDimSize = 40 30 3\nElementType = MET_FLOAT\n"
                      f"ElementDataFile = {target}\n")
            return header.encode(), (".nhdr" if fmt == "nrrd" else ".mhd")
        return data + target.encode(), suffix
    if kind == "nan_fields":
        out = data
        for value in (1.0, 0.5, 2.0, -1024.0):
            for fmt_ in ("<f", ">f", "<d"):
                old = struct.pack(fmt_, value)
                idx = out.find(old, 0, 4096)
                if idx >= 0:
                    out = out[:idx] + struct.pack(fmt_, float(rng.choice([np.nan, np.inf, -np.inf]))) + out[idx + len(old):]
        for token in (b"0.5", b"1.0", b"2", b"-1024", b"2.5"):
            out = out.replace(token, rng.choice([b"nan", b"inf", b"-inf", b"NaN"]), 1)
        return out, suffix
    raise ValueError(kind)


def write_mutant(seed_file: Path, fmt: str, seed: int, index: int, folder: Path) -> tuple[str, Path]:
    """Mutant number ``index`` of run ``seed``: the same bytes every time (its own random generator)."""
    kind = MUTATIONS[index % len(MUTATIONS)]
    rng = np.random.default_rng([seed, sorted(_OTHER_SUFFIX).index(fmt), index])
    sub = folder / fmt.replace(".", "_")
    sub.mkdir(parents=True, exist_ok=True)
    (folder.parent / "secret.raw").write_bytes(b"secret" * 4000)
    payload, suffix = mutate(seed_file.read_bytes(), kind, fmt, rng, Path("/nonexistent/fuzz/upload"))
    target = sub / f"s{seed}_m{index:05d}_{kind}{suffix}"
    target.write_bytes(payload)
    return kind, target


def write_mutants(seeds: dict[str, Path], per_format: int, seed: int, folder: Path) -> list[tuple[str, str, Path]]:
    """``per_format`` mutants of each seed: (format, mutation, path)."""
    out = []
    for fmt, path in seeds.items():
        for index in range(per_format):
            kind, target = write_mutant(path, fmt, seed, index, folder)
            out.append((fmt, kind, target))
    return out


# ------------------------------------------------------------------------------------------ the child
def _read_any(path: Path) -> None:
    name = path.name
    if name.endswith(".star"):
        from biomedai.io.star import read_star

        read_star(path)
    elif name.endswith(".mp4"):
        from biomedai.io.video import read_video_frames

        for _ in read_video_frames(path):
            pass
    else:
        from biomedai.io import read_image

        read_image(path)


def _child(paths: list[str]) -> None:
    import resource
    import signal

    resource.setrlimit(resource.RLIMIT_AS, (CHILD_MEMORY_BYTES, CHILD_MEMORY_BYTES))

    class Hang(BaseException):
        pass

    def alarm(*_: object) -> None:
        raise Hang()

    signal.signal(signal.SIGALRM, alarm)
    import logging
    import warnings

    logging.disable(logging.CRITICAL)
    warnings.simplefilter("ignore")
    for text in paths:
        signal.alarm(PER_FILE_SECONDS)
        try:
            outcome = read_outcome(Path(text), _read_any)
        except Hang:
            outcome = "hang"
        finally:
            signal.alarm(0)
        print(json.dumps([text, outcome]), flush=True)


def read_outcome(path: Path, read: object) -> str:
    """``ok``, ``refused`` (our error naming the file), ``memory`` or ``crash:...`` for one read."""
    from biomedai.errors import BiomedaiError

    try:
        read(path)  # type: ignore[operator]
        return "ok"
    except BiomedaiError as exc:
        return "refused" if path.name in str(exc) else f"crash:unnamed {str(exc)[:200]}"
    except MemoryError:
        return "memory"
    except Exception as exc:  # noqa: BLE001 - a finding
        return f"crash:{type(exc).__name__}: {str(exc)[:200]}"


def run_mutants(paths: list[Path], timeout_s: float = 600.0) -> dict[str, str]:
    """Outcome per path; a child that dies is restarted after the file it died on (counted as a crash)."""
    outcomes: dict[str, str] = {}
    todo = [str(p) for p in paths]
    source = os.environ.get("BIOMEDAI_FUZZ_SRC", str(ROOT / "src"))  # another tree's readers, to compare
    env = {**os.environ, **CHILD_ENV, "PYTHONPATH": os.pathsep.join([source, str(ROOT),
                                                                    os.environ.get("PYTHONPATH", "")])}
    while todo:
        proc = subprocess.run([sys.executable, "-m", "tests.io.fuzz", "--child", *todo], capture_output=True,
                              text=True, env=env, cwd=ROOT, timeout=timeout_s, check=False)
        for line in proc.stdout.splitlines():
            try:
                path, outcome = json.loads(line)
            except ValueError:
                continue
            outcomes[path] = outcome
        todo = [p for p in todo if p not in outcomes]
        if todo:  # the child died on todo[0]
            outcomes[todo[0]] = f"crash:child exit {proc.returncode} {proc.stderr.strip()[-200:]}"
            todo = todo[1:]
    return outcomes


def summarise(items: list[tuple[str, str, Path]], outcomes: dict[str, str]) -> dict[str, Counter]:
    table: dict[str, Counter] = {}
    for fmt, _kind, path in items:
        outcome = outcomes[str(path)]
        table.setdefault(fmt, Counter())[outcome.split(":", 1)[0]] += 1
    return table


def main(argv: list[str] | None = None) -> int:
    import argparse
    import tempfile

    parser = argparse.ArgumentParser()
    parser.add_argument("--child", nargs="*")
    parser.add_argument("--per-format", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.child is not None:
        _child(args.child)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        seeds = make_seeds(Path(tmp) / "seeds")
        items = write_mutants(seeds, args.per_format, args.seed, Path(tmp) / "mutants")
        outcomes = run_mutants([p for _, _, p in items], timeout_s=3600)
        for fmt, counts in summarise(items, outcomes).items():
            print(fmt, dict(counts))
        for fmt, kind, path in items:
            if outcomes[str(path)].split(":", 1)[0] in ("crash", "memory", "hang"):
                print("FINDING", fmt, kind, path.name, outcomes[str(path)])
    return 0


if __name__ == "__main__":
    sys.exit(main())
