"""Previews (the PNG shown for each stored file), made by the workers, never in a request handler.

Intake stores a file with ``preview = ""`` (pending). A worker with no job to run claims pending
files (:func:`claim_pending`) and makes their previews in a child process
(``python -m biomedai.workflow.previews``) that runs under the read limits of :mod:`biomedai.io.limits`
plus an address-space cap and a time limit, so a decompression bomb or a decoder that hangs costs
one child, not the service. Each file ends with the preview's stored path or ``"-"`` (no preview).
"""
from __future__ import annotations

import argparse
import logging
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import select, update

from .models import StoredFile
from .store import Store

log = logging.getLogger(__name__)

PENDING, NONE, WORKING = "", "-", "working:"
#: Files larger than this get no preview (read limits apply below it).
PREVIEW_MAX_BYTES = 512 * 1024 ** 2
#: Address space and time a preview child may use.
CHILD_MEMORY_BYTES = 4 * 1024 ** 3
CHILD_TIMEOUT_S = 300.0
#: A claim older than this (its child died with its worker) is taken over.
STALE_CLAIM_S = 900.0


def has_preview(value: str | None) -> bool:
    """Whether a StoredFile's ``preview`` field names a made preview (not pending, none or in progress)."""
    return bool(value) and value != NONE and not value.startswith(WORKING)


def initial_preview(kind: str, size: int) -> str:
    """What intake stores: pending for images, volumes and slides; none for annotations and huge files."""
    if kind.startswith("annotation") or (size > PREVIEW_MAX_BYTES and kind != "wsi"):
        return NONE
    return PENDING


def claim_pending(store: Store, worker_id: str, limit: int = 16) -> list[int]:
    """Mark up to ``limit`` pending (or stale) files as being previewed by ``worker_id``; returns their ids."""
    now = time.time()
    claimed: list[int] = []
    with store.session() as s:
        rows = s.execute(select(StoredFile.id, StoredFile.preview).where(
            (StoredFile.preview == PENDING) | StoredFile.preview.startswith(WORKING)).limit(limit * 4)).all()
    for file_id, value in rows:
        if value.startswith(WORKING):
            try:
                started = float(value.rsplit(":", 1)[-1])
            except ValueError:
                started = 0.0
            if now - started < STALE_CLAIM_S:
                continue
        with store.session() as s:
            result = s.execute(update(StoredFile).where(StoredFile.id == file_id, StoredFile.preview == value)
                               .values(preview=f"{WORKING}{worker_id[:200]}:{now:.0f}"))
            if result.rowcount == 1:
                claimed.append(file_id)
        if len(claimed) >= limit:
            break
    return claimed


def make_preview(store: Store, file_id: int) -> str:
    """Make one file's preview now (in this process, under the read limits); returns the stored value."""
    from ..errors import BiomedaiError
    from ..viz import save_png, to_display

    with store.session() as s:
        row = s.get(StoredFile, file_id)
        if row is None:
            return NONE
        rel, kind, study_id, digest = row.path, row.kind, row.study_id, row.sha256
    value = NONE
    try:
        import numpy as np

        stored = store.storage.resolve(rel)
        if kind == "wsi":
            from ..io import open_wsi

            with open_wsi(stored) as reader:
                picture = reader.thumbnail(1024)
        else:
            from ..io import read_image

            array = np.asarray(read_image(stored).array)
            while array.ndim > 3 or (array.ndim == 3 and array.shape[-1] not in (3, 4)):
                array = array[array.shape[0] // 2]
            picture = to_display(array)
        target = store.storage.resolve(f"studies/{study_id}/previews/{digest[:16]}.png")
        target.parent.mkdir(parents=True, exist_ok=True)
        save_png(picture, target)
        value = store.storage.relative(target)
    except (BiomedaiError, ValueError, OSError, MemoryError) as exc:
        log.info("no preview for file %s: %s", file_id, exc)
    with store.session() as s:
        s.execute(update(StoredFile).where(StoredFile.id == file_id).values(preview=value))
    return value


def make_pending_previews(store: Store, worker_id: str = "inline", limit: int = 1000) -> int:
    """Make every pending preview in this process (tests, single-process use); returns how many were tried."""
    ids = claim_pending(store, worker_id, limit)
    for file_id in ids:
        make_preview(store, file_id)
    return len(ids)


def limit_own_memory(max_bytes: int) -> None:
    """Cap this process's address space (the child calls it first thing, before it reads any file).

    The cap used to be set by a ``preexec_fn`` between fork and exec; in a threaded parent (the web server)
    that child could hang forever on a lock another thread held at the fork (seen on an import in CI), so the
    child now limits itself right after exec.
    """
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (max_bytes, max_bytes))
    except (ImportError, ValueError, OSError):
        pass


def previews_in_child(store: Store, file_ids: Sequence[int], database_url: str | None = None,
                      timeout_s: float = CHILD_TIMEOUT_S) -> None:
    """Make the previews of claimed files in a child process with memory and time caps.

    Files the child left unfinished (it crashed, ran out of memory or time) get no preview.
    """
    if not file_ids:
        return
    command = [sys.executable, "-m", "biomedai.workflow.previews", "--memory-limit", str(CHILD_MEMORY_BYTES),
               "--data-dir", str(store.data_dir)]
    if database_url:
        command += ["--database-url", database_url]
    command += [str(i) for i in file_ids]
    try:
        subprocess.run(command, timeout=timeout_s, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, check=False)
    except subprocess.TimeoutExpired:
        log.warning("previews of files %s took longer than %s s; skipped", list(file_ids), timeout_s)
    with store.session() as s:
        s.execute(update(StoredFile).where(StoredFile.id.in_(list(file_ids)), StoredFile.preview.startswith(WORKING))
                  .values(preview=NONE))


def render_png(path: Path, center: float | None = None, width: float | None = None,
               slice_index: int | None = None) -> bytes:
    """A PNG of a grey image or volume with a window (centre/width) and a slice (the middle one by default).

    Raises InvalidInputError for unreadable files and slices out of range.
    """
    import tempfile

    import numpy as np

    from ..errors import InvalidInputError
    from ..io import read_image
    from ..io.image import Image
    from ..viz import save_png, to_display

    image = read_image(path)
    array = np.asarray(image.array)
    rgb = image.channel_axis is not None
    if array.ndim - (1 if rgb else 0) > 2:
        index = array.shape[0] // 2 if slice_index is None else slice_index
        if not 0 <= index < array.shape[0]:
            raise InvalidInputError(f"slice {index} is outside 0..{array.shape[0] - 1}")
        if not rgb:
            image = Image(array[index], metadata=dict(image.metadata))
    picture = to_display(image, window=(center, width) if center is not None else None)
    with tempfile.TemporaryDirectory() as tmp:
        return save_png(picture, Path(tmp) / "render.png").read_bytes()


def render_in_child(path: Path, center: float | None = None, width: float | None = None,
                    slice_index: int | None = None, timeout_s: float = 120.0) -> bytes:
    """:func:`render_png` in a child process under the read limits, a memory cap and a time limit.

    The web service calls this, so a file that decodes badly costs a child, not the server.
    """
    import tempfile

    from ..errors import InvalidInputError

    with tempfile.TemporaryDirectory(prefix="biomedai-render-") as tmp:
        out = Path(tmp) / "render.png"
        command = [sys.executable, "-m", "biomedai.workflow.previews", "--memory-limit", str(CHILD_MEMORY_BYTES),
                   "--render", str(path), "--out", str(out)]
        for flag, value in (("--center", center), ("--width", width), ("--slice", slice_index)):
            if value is not None:
                command += [flag, repr(value)]
        try:
            done = subprocess.run(command, timeout=timeout_s, stdin=subprocess.DEVNULL, capture_output=True,
                                  text=True, check=False)
        except subprocess.TimeoutExpired:
            raise InvalidInputError(f"rendering took longer than {timeout_s:g} s", path.name) from None
        if done.returncode != 0 or not out.is_file():
            lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
            reason = lines[-1] if lines else f"the renderer stopped (exit code {done.returncode})"
            raise InvalidInputError(reason.replace(str(path), path.name))
        return out.read_bytes()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m biomedai.workflow.previews", description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir")
    parser.add_argument("--database-url")
    parser.add_argument("--render", help="render this file to --out instead of making previews")
    parser.add_argument("--out")
    parser.add_argument("--center", type=float)
    parser.add_argument("--width", type=float)
    parser.add_argument("--slice", type=int)
    parser.add_argument("--memory-limit", type=int, help="cap this process's address space (bytes) first")
    parser.add_argument("ids", nargs="*", type=int)
    args = parser.parse_args(argv)
    if args.memory_limit:
        limit_own_memory(args.memory_limit)
    if args.render:
        import warnings

        from ..errors import BiomedaiError

        warnings.simplefilter("ignore")
        logging.disable(logging.WARNING)
        try:
            data = render_png(Path(args.render), args.center, args.width, args.slice)
        except BiomedaiError as exc:
            print(str(exc), file=sys.stderr)
            return 2
        Path(args.out).write_bytes(data)
        return 0
    if not args.data_dir:
        parser.error("--data-dir is required to make previews")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s previews %(levelname)s: %(message)s")
    store = Store(Path(args.data_dir), args.database_url)
    try:
        for file_id in args.ids:
            make_preview(store, file_id)
    finally:
        store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
