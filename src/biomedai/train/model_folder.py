"""One model folder for every method: ``weights.pt`` + ``model.json`` (+ ``MODEL.md`` when bundled).

``model.json`` says everything needed to rebuild and trust the network: the method, the package
version that wrote it, the architecture config, the preprocessing (stain targets, intensity
windows, scale), the class names, the training data with its split and licence, the metrics with
the data they were measured on, and the SHA-256 of ``weights.pt``. :func:`save_model_folder`
writes it; :func:`load_model_folder` reads it back and refuses weights whose checksum differs.

Bundled models live inside the package at ``biomedai/methods/<method>/models/<model>/``;
:func:`bundled_models` lists them and :func:`default_model_folder` finds a method's default.
"""
from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import WeightsError
from ..utils import sha256_file, write_json_atomic

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)

WEIGHTS_FILE = "weights.pt"
INFO_FILE = "model.json"
CARD_FILE = "MODEL.md"
MODEL_FORMAT = "biomedai-model"
MODEL_FORMAT_VERSION = 1


@dataclass
class ModelInfo:
    """The contents of ``model.json``.

    Parameters
    ----------
    method : str
        Registered name of the method the weights belong to.
    architecture : dict
        Everything the method's network builder needs (widths, depths, variant ...).
    name : str
        Short model name (``"default"`` for a method's bundled default).
    preprocessing : dict
        What inputs must go through first: stain target, intensity window, pixel size ...
    class_names : list of str
        Output class names in index order (empty for regression or instance models).
    training_data : dict
        ``name``, ``split``, ``licence`` and ``non_commercial`` of the data the model learned from.
    metrics : dict
        Metric name -> value (or a dict with an interval); say the data in ``metrics_data``.
    metrics_data : str
        The data the metrics were measured on (e.g. "UFBA test split, 75 films").
    licence : str
        Licence of the weights (follows the training data's terms).
    simulated : bool
        True when the training data were simulated; every use must say so.
    """

    method: str
    architecture: dict[str, Any] = field(default_factory=dict)
    name: str = "default"
    preprocessing: dict[str, Any] = field(default_factory=dict)
    class_names: list[str] = field(default_factory=list)
    training_data: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    metrics_data: str = ""
    licence: str = ""
    simulated: bool = False
    weights_sha256: str = ""
    weights_dtype: str = "float32"
    package_version: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def non_commercial(self) -> bool:
        """Whether the training data's terms forbid commercial use."""
        return bool(self.training_data.get("non_commercial", False))

    @property
    def training_mpp(self) -> float | None:
        """Microns per pixel of the training images (``preprocessing["mpp"]``), or None when not stated.

        Whole slides are read at this resolution (:func:`biomedai.io.wsi.level_for_mpp`).

        Example:
            >>> ModelInfo("toy", preprocessing={"mpp": 0.5}).training_mpp, ModelInfo("toy").training_mpp
            (0.5, None)
        """
        value = self.preprocessing.get("mpp")
        if value is None:
            return None
        try:
            mpp = float(value)
        except (TypeError, ValueError) as exc:
            raise WeightsError(f"model.json: preprocessing.mpp must be a number of microns, got {value!r}") from exc
        if not mpp > 0 or mpp == float("inf"):
            raise WeightsError(f"model.json: preprocessing.mpp must be a positive number, got {value!r}")
        return mpp

    def usage_note(self) -> str:
        """One line saying which model is used and under which terms, for logs and reports."""
        data = self.training_data.get("name", "unstated data")
        parts = [f"{self.method} model {self.name!r} trained on {data}"]
        if self.simulated:
            parts.append("simulated training data")
        if self.non_commercial:
            parts.append("non-commercial use only (training-data terms)")
        parts.append("research use only")
        return "; ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """The contents of ``model.json``."""
        return {"format": MODEL_FORMAT, "format_version": MODEL_FORMAT_VERSION, **asdict(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str | Path = "model.json") -> ModelInfo:
        """Read and check the contents of ``model.json``."""
        if not isinstance(data, dict) or data.get("format") != MODEL_FORMAT:
            raise WeightsError(f"{source}: not a biomedai model.json (format {MODEL_FORMAT!r} expected)")
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        if "method" not in values:
            raise WeightsError(f"{source}: model.json has no 'method'")
        return cls(**values)


def save_model_folder(folder: str | Path, model: torch.nn.Module | dict[str, Any], info: ModelInfo,
                      *, half: bool = False) -> Path:
    """Write ``weights.pt`` and ``model.json`` into ``folder``; returns the folder.

    With ``half=True`` floating-point tensors are stored as float16 (they load back as the
    model's dtype). The SHA-256 of ``weights.pt`` is recorded in ``model.json``.

    Examples
    --------
    >>> import tempfile, torch
    >>> folder = save_model_folder(tempfile.mkdtemp(), torch.nn.Linear(2, 1), ModelInfo("toy", {"n": 2}))
    >>> state, info = load_model_folder(folder)
    >>> info.architecture, sorted(state)
    ({'n': 2}, ['bias', 'weight'])
    """
    import torch

    from .. import __version__
    from .checkpoint import save_weights, sidecar_path, unwrap_model

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = unwrap_model(model).state_dict() if isinstance(model, torch.nn.Module) else dict(model)
    if half:
        state = {k: (v.half() if isinstance(v, torch.Tensor) and v.is_floating_point() else v)
                 for k, v in state.items()}
    digest = save_weights(state, folder / WEIGHTS_FILE)
    sidecar_path(folder / WEIGHTS_FILE).unlink(missing_ok=True)  # the checksum lives in model.json
    info.weights_sha256 = digest
    info.weights_dtype = "float16" if half else "float32"
    info.package_version = info.package_version or __version__
    write_json_atomic(folder / INFO_FILE, info.to_dict())
    return folder


def read_model_info(folder: str | Path) -> ModelInfo:
    """Read ``model.json`` of a model folder (or of the folder holding a ``weights.pt``)."""
    folder = _folder_of(folder)
    path = folder / INFO_FILE
    if not path.is_file():
        raise WeightsError(f"{folder}: no {INFO_FILE} in the model folder")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise WeightsError(f"{path}: unreadable model.json ({exc})") from None
    return ModelInfo.from_dict(data, source=path)


def is_model_folder(path: str | Path) -> bool:
    """True when ``path`` (a folder or its ``weights.pt``) has a biomedai ``model.json`` beside the weights."""
    try:
        read_model_info(path)
    except WeightsError:
        return False
    return True


def training_mpp_of(weights: str | Path | None) -> float | None:
    """The training microns per pixel stated by the model folder ``weights``, or None.

    None for no folder, a bare ``weights.pt`` or a model that does not say (slides are then read at their
    configured level).
    """
    if weights is None or not is_model_folder(weights):
        return None
    return read_model_info(weights).training_mpp


def load_model_folder(folder: str | Path, model: torch.nn.Module | None = None, *, method: str | None = None,
                      map_location: str | Any = "cpu") -> tuple[dict[str, Any], ModelInfo]:
    """Read a model folder, verify the weights' SHA-256 and return ``(state_dict, info)``.

    ``folder`` may be the folder or its ``weights.pt``. With ``method``, a folder written for
    another method is refused. With ``model``, the weights are loaded into it (cast to its dtype).
    """
    from .checkpoint import load_weights, unwrap_model

    folder = _folder_of(folder)
    info = read_model_info(folder)
    if method is not None and info.method != method:
        raise WeightsError(f"{folder}: model folder is for method {info.method!r}, not {method!r}")
    if not info.weights_sha256:
        raise WeightsError(f"{folder / INFO_FILE}: no weights_sha256 recorded")
    state = load_weights(None, folder / WEIGHTS_FILE, expected_sha256=info.weights_sha256, map_location=map_location)
    if model is not None:
        target = unwrap_model(model)
        reference = target.state_dict()
        state = {k: (v.to(reference[k].dtype) if k in reference and hasattr(v, "to") else v) for k, v in state.items()}
        load_weights_into(target, state, folder)
    return state, info


def load_weights_into(model: torch.nn.Module, state: dict[str, Any], source: str | Path) -> None:
    """Load ``state`` into ``model`` strictly, naming the first misfit key in a ``WeightsError``."""
    from .checkpoint import check_state_dict_fits

    check_state_dict_fits(model, state, source=source)
    model.load_state_dict(state, strict=True)


@dataclass(frozen=True)
class BundledModel:
    """A model folder shipped inside the package."""

    method: str
    name: str
    folder: Path

    @property
    def info(self) -> ModelInfo:
        """The model's ``model.json``."""
        return read_model_info(self.folder)

    @property
    def size_bytes(self) -> int:
        """Size of the folder's files in bytes."""
        return sum(p.stat().st_size for p in self.folder.iterdir() if p.is_file())


def bundled_models(method: str | None = None) -> list[BundledModel]:
    """Every model folder under ``biomedai/methods/<method>/models/``, sorted by method and name."""
    root = Path(__file__).resolve().parents[1] / "methods"
    found = []
    for info_file in sorted(root.glob(f"{method or '*'}/models/*/{INFO_FILE}")):
        folder = info_file.parent
        found.append(BundledModel(method=folder.parent.parent.name, name=folder.name, folder=folder))
    return found


def describe_bundled_models(method: str | None = None) -> list[dict[str, Any]]:
    """One plain row per bundled model (for ``biomedai models``): size, data, licence, terms, metrics."""
    rows = []
    for bundled in bundled_models(method):
        info = bundled.info
        arch = info.architecture
        rows.append({
            "method": bundled.method, "name": bundled.name, "folder": str(bundled.folder),
            "size_mb": round(bundled.size_bytes / 1e6, 3), "weights_dtype": info.weights_dtype,
            "architecture": str(arch.get("name") or arch.get("variant") or arch.get("arch") or arch.get("kind")
                                or arch.get("task") or ""),
            "training_data": info.training_data.get("name", ""), "split": info.training_data.get("split", ""),
            "licence": info.training_data.get("licence", info.licence), "non_commercial": info.non_commercial,
            "simulated": info.simulated, "metrics": _flat_metrics(info.metrics), "metrics_data": info.metrics_data,
            "usage": info.usage_note(), "card": str(bundled.folder / CARD_FILE),
        })
    return rows


def _flat_metrics(metrics: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Headline numbers of nested metrics, rounded to 3 places.

    ``{"aji": {"value": 0.71, "ci95": [..]}}`` -> ``{"aji": 0.71}``; a dict without ``value``/``mean``
    gives its numbers one level down (``{"d": {"mae": 0.4}}`` -> ``{"d mae": 0.4}``); intervals and
    counts are left to the card.
    """
    flat: dict[str, Any] = {}
    for key, value in metrics.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            main = value.get("value", value.get("mean"))
            if isinstance(main, (int, float)):
                flat[name] = round(main, 3) if isinstance(main, float) else main
            elif len(prefix.split()) < 2:
                flat.update(_flat_metrics({k: v for k, v in value.items() if not _is_detail(k)}, f"{name} "))
        elif isinstance(value, float):
            flat[name] = round(value, 3)
        elif isinstance(value, (int, str)) and not _is_detail(key):
            flat[name] = value
    return flat


def _is_detail(key: str) -> bool:
    return key in ("n", "n_tiles") or key.startswith(("ci", "n_")) or key.endswith(("_ci95", "_range", "ci"))


def default_model_folder(method: str, name: str = "default") -> Path | None:
    """The bundled model folder ``name`` of ``method``, or None when the method ships none."""
    for bundled in bundled_models(method):
        if bundled.name == name:
            return bundled.folder
    return None


def _folder_of(path: str | Path) -> Path:
    path = Path(path)
    return path.parent if path.suffix in (".pt", ".pth") or path.name == INFO_FILE else path
