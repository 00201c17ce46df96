"""The ``Method`` interface every seed method implements, and what its actions return."""
from __future__ import annotations

import abc
import argparse
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from ..config import BaseConfig


@dataclass
class RunResult:
    """What a ``train``/``predict``/``evaluate``/``demo`` call produced."""

    output_dir: Path
    metrics: dict[str, Any] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)

    @property
    def result_json(self) -> Path:
        return Path(self.output_dir) / "result.json"


@dataclass(frozen=True)
class RealSample:
    """One held-out real sample of a method's data set, for the demo's "bundled models on real data" section.

    ``inputs`` go to ``predict`` as they are; ``ground_truth`` (optional) is what
    :meth:`Method.score_real_sample` compares the prediction with. Nothing of it is copied into the package.
    """

    inputs: tuple[Path, ...]
    #: the data set and which item, e.g. "MICCAI 2015 segmentation challenge, test tile image06"
    data_set: str
    #: its licence or terms as stated by the data set
    licence: str
    non_commercial: bool = False
    ground_truth: Path | None = None
    #: which split the sample is held out in (never a training item)
    split: str = "test"


class Method(abc.ABC):
    """One seed method behind one interface.

    A subclass sets the class attributes, names its config dataclass and implements the four
    actions. Each action writes into ``output_dir`` a ``result.json`` (use
    :class:`biomedai.provenance.RunRecorder`) plus its pictures and tables, and returns a
    :class:`RunResult`. Register it with :func:`biomedai.methods.registry.register`.
    """

    name: ClassVar[str]
    title: ClassVar[str] = ""
    modality: ClassVar[str] = ""
    task: ClassVar[str] = ""
    paper: ClassVar[str] = ""
    config_class: ClassVar[type[BaseConfig]] = BaseConfig
    #: what the workflow router may send to it, e.g. ("image/rgb", "dicom/CT", "volume/mrc")
    input_kinds: ClassVar[tuple[str, ...]] = ()
    #: a module of the method's package with ``build_parser(prog)`` and ``run(method, args)`` for its
    #: extra tools (``biomedai tool NAME ...``), imported only when a tool is asked for; e.g. "tools"
    tools_module: ClassVar[str | None] = None
    #: the bundled model used when ``weights`` is None: ``biomedai/methods/<name>/models/<default_model>/``
    #: (a folder written by :func:`biomedai.train.model_folder.save_model_folder`), or None
    default_model: ClassVar[str | None] = None
    #: metric keys the report leads with, rounded (e.g. the Ki-67 labelling index and cell counts)
    headline_metrics: ClassVar[tuple[str, ...]] = ()
    #: True when ``predict`` cannot run without a trained model (weights given or a bundled default)
    needs_weights: ClassVar[bool] = False

    def __init__(self, config: BaseConfig | dict[str, Any] | None = None) -> None:
        if config is None:
            config = self.config_class()
        elif isinstance(config, dict):
            config = self.config_class.from_dict(config, source=f"{self.name} config")
        elif not isinstance(config, self.config_class):
            raise TypeError(f"{self.name} expects a {self.config_class.__name__}, got {type(config).__name__}")
        self.config = config

    @abc.abstractmethod
    def train(self, data: Path, output_dir: Path, weights: Path | None = None) -> RunResult:
        """Train on ``data`` (a dataset folder), writing checkpoints and logs into ``output_dir``."""

    @abc.abstractmethod
    def predict(self, inputs: Sequence[Path], output_dir: Path, weights: Path | None = None) -> RunResult:
        """Run on each input file, writing one output set per input into ``output_dir``."""

    @abc.abstractmethod
    def evaluate(self, data: Path, output_dir: Path, weights: Path | None = None) -> RunResult:
        """Score predictions against ground truth in ``data``; metrics name the data they came from."""

    def report(self, output_dir: Path) -> Path:
        """Make a human-readable report (HTML) from a finished output folder; returns its path."""
        from .report import html_report_from_result

        return html_report_from_result(Path(output_dir), title=self.title or self.name,
                                       headline=self.headline_metrics)

    def demo(self, output_dir: Path) -> RunResult:
        """Run on bundled sample input. The default says plainly that there is no demo."""
        raise NotImplementedError(f"method {self.name!r} has no demo")

    def real_samples(self, data_root: Path) -> list[RealSample]:
        """Held-out real samples (usually one) of this method's data set under the shared data folder
        ``data_root`` (:func:`biomedai.data.shared_root.shared_data_root`), for the demo to run the bundled
        model on; [] when the method has none or its data are absent (the default)."""
        return []

    def score_real_sample(self, sample: RealSample, result: RunResult) -> dict[str, Any]:
        """Scores of ``predict``'s ``result`` on ``sample`` against its ground truth (e.g. ``{"aji": 0.7}``,
        plain numbers); the default: none."""
        return {}

    def resolve_weights(self, weights: Path | None) -> Path | None:
        """``weights`` when given, else the folder of the method's bundled default model, else None.

        The bundled model used is logged with its training data and terms.
        """
        if weights is not None or not self.default_model:
            return None if weights is None else Path(weights)
        from ..train.model_folder import default_model_folder, read_model_info

        folder = default_model_folder(self.name, self.default_model)
        if folder is None:
            return None
        logging.getLogger(type(self).__module__).info("using the bundled model: %s",
                                                      read_model_info(folder).usage_note())
        return folder

    def check_input(self, path: Path) -> str | None:
        """Why this method cannot read ``path`` (one file, or a DICOM series folder), or None when it can.

        The workflow router asks before it queues a job, so an image goes only to the methods that
        can read what it shows (a panoramic film to the dental method, not to Ki-67). Keep it cheap (a
        header, a thumbnail: :mod:`biomedai.data.content`) and in the method's own domain module; the
        default accepts everything its :attr:`input_kinds` let through. Say the reason in words a user
        understands ("no DAB (brown) stain: ...").
        """
        return None

    def not_configured(self, weights: Path | None = None) -> str | None:
        """What is missing before ``predict`` can run, and what to do about it; None when it can run.

        The default: with :attr:`needs_weights` and neither ``weights`` nor a bundled model, it says how
        to get a model (``biomedai train``, ``--weights``, or ``weights:`` in the service's routing rules).
        """
        if not self.needs_weights or self.resolve_weights(weights) is not None:
            return None
        return (f"no trained model: train one with 'biomedai train {self.name} DATA -o OUT' and give it with "
                f"--weights OUT (in the service: methods: [{{name: {self.name}, weights: OUT}}] in the routing "
                "rules)")

    @classmethod
    def example_inputs(cls, folder: Path) -> list[Path]:
        """Write a few small valid inputs for ``predict`` into ``folder`` and return their paths.

        Used by the conformance suite (:func:`biomedai.methods.check_method`); the default, an empty
        list, lets the suite make a synthetic image or volume of the first of :attr:`input_kinds`.
        Override when ``predict`` takes something else (a cohort folder, an annotation file).
        """
        return []

    #: Kind of annotation a user can correct in this method's results (e.g. ``"polylines"``), or None.
    #: The web service offers its correction page for results of such methods.
    annotation_kind: ClassVar[str | None] = None

    def editable_annotations(self, result_dir: Path) -> list[dict[str, str]]:
        """The correctable annotations of one result: ``{"name", "annotation", "image_input"}`` each.

        ``annotation`` is a file of ``result_dir`` in the method's annotation format; ``image_input``
        the name of the input image it was drawn on. Methods with :attr:`annotation_kind` override it.
        """
        return []

    def check_annotation(self, data: Any, source: str) -> dict[str, Any]:
        """Validate a corrected annotation (parsed JSON) and return it normalised; raise ``InvalidInputError``."""
        raise NotImplementedError(f"method {self.name!r} has no correctable annotations")

    def save_correction(self, folder: Path, image: Path, annotation: dict[str, Any]) -> Path:
        """Store a checked correction of ``image`` in ``folder``, the layout this method retrains from."""
        raise NotImplementedError(f"method {self.name!r} has no correctable annotations")

    @classmethod
    def tool_parser(cls, prog: str) -> argparse.ArgumentParser | None:
        """Extra command-line tools of this method (``biomedai tool NAME ...``), or ``None``.

        Return a parser whose sub-commands are the tools (e.g. ``extract``, ``classify``);
        :meth:`run_tool` receives the parsed namespace. The default builds it from :attr:`tools_module`.
        """
        module = cls._tools()
        return None if module is None else module.build_parser(prog)

    def run_tool(self, args: argparse.Namespace) -> int:
        """Run a tool parsed by :meth:`tool_parser`; returns the exit code."""
        module = self._tools()
        if module is None:
            raise NotImplementedError(f"method {self.name!r} has no tools")
        return int(module.run(self, args))

    @classmethod
    def _tools(cls) -> Any:
        if not cls.tools_module:
            return None
        import importlib

        return importlib.import_module(f"{cls.__module__.rpartition('.')[0]}.{cls.tools_module}")

    @classmethod
    def describe(cls) -> dict[str, Any]:
        """A JSON-ready summary for ``biomedai list``."""
        return {"name": cls.name, "title": cls.title, "modality": cls.modality, "task": cls.task,
                "paper": cls.paper, "input_kinds": list(cls.input_kinds)}
