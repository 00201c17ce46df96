"""Tactile-MIS settings. Source: Huang et al., review of tactile perception in MIS (spec section 3).

The review reports other groups' numbers and fixes few settings of its own; the defaults below cite
the system each comes from (spec 3.2/3.3). Everything the review leaves open (spec 3.5) is our
choice, listed in README.md: tissue and sensor values of the simulator, array order of files,
stiffness map definition (both are computed), class sets and training sizes.
"""
from __future__ import annotations

import dataclasses
from typing import Literal

from biomedai.config import BaseConfig

#: slip classes of Zapata-Impata et al. 2019 (spec 3.3 item 3), in index order
SLIP_CLASSES: tuple[str, ...] = ("north", "south", "east", "west", "clockwise", "anticlockwise", "touch")
#: our four contact shapes (Liu et al. 2012 report 4 shapes without naming them; spec 3.3 item 2)
CONTACT_SHAPES: tuple[str, ...] = ("disc", "square", "triangle", "bar")


@dataclasses.dataclass
class TactileConfig(BaseConfig):
    # --- ingestion (spec 3.4) --------------------------------------------------------------
    #: axis order of 3-D arrays in NPY/HDF5 files: "MNT" (the review's M x N x T) or "TMN"
    array_order: Literal["MNT", "TMN"] = "MNT"
    #: HDF5 dataset holding the frames ("" = the only 3-D dataset in the file)
    hdf5_dataset: str = ""
    #: ROS bag topic with one Float32/Float64MultiArray per frame ("" = the only such topic)
    ros_topic: str = ""
    #: frame rate when the file does not carry one (Zapata-Impata: 50 ms = 3-5 frames -> ~80 Hz)
    frame_rate_hz: float = 80.0
    #: sensor layout file (JSON/YAML); "" = a regular grid of the frame's shape
    layout: str = ""
    #: per-element calibration file (JSON); "" = frames are already forces in newtons
    calibration: str = ""
    # --- forward model / simulator (ours; review spec 3.5 asks for FEM-style synthetic data) ---
    tissue_modulus_kpa: float = 60.0        # soft tissue (ex-vivo kidney/breast order of magnitude)
    inclusion_modulus_kpa: float = 360.0    # a stiffer nodule, 6x the tissue
    poisson_ratio: float = 0.45             # nearly incompressible soft tissue, kept < 0.5 for hex elements
    inclusion_diameter_mm: float = 10.0     # d (Lee & Won 2013)
    inclusion_depth_mm: float = 6.0         # h: depth of the inclusion centre below the surface
    block_size_mm: float = 60.0             # tissue block side
    block_thickness_mm: float = 30.0
    #: 8 x 8 taxels of 4 mm: with the tissue above, nodule-free taxels read 0.08-0.37 N, the review's
    #: "mostly 0-0.4 N" (Xie 2013)
    sensor_rows: int = 8
    sensor_cols: int = 8
    taxel_pitch_mm: float = 4.0
    indentation_mm: float = 3.0             # rigid probe displacement into the tissue
    #: sensor skin stiffness per area (elastomer layer over the taxels), N/mm^3
    skin_stiffness_n_mm3: float = 0.05
    noise_n: float = 0.005                  # per-taxel Gaussian noise (N)
    #: load radius of the fast model's depth weighting: about half the probe width (fits the FE block,
    #: see README); the inclusion weighting spreads by the 2:1 rule on its own
    influence_radius_mm: float = 16.0
    # --- rules and maps (Xie et al. 2013, spec 3.3 item 5; configurable as the review asks) ---
    nodule_free_max_n: float = 0.4          # nodule-free outputs mostly 0-0.4 N
    nodule_threshold_n: float = 0.8         # elements over a nodule: > 0.8 N
    #: flag on the subtraction map too: excess over the nodule-free press above this (ours: chosen on 200
    #: simulated validation presses, benchmarks/quality/tactile_mis; the raw rule cannot see past the probe's
    #: own edge forces there)
    nodule_excess_threshold_n: float = 0.016
    #: TSIS feature O3 counts pixels whose excess force over the nodule-free press exceeds this (ours)
    tsis_threshold_n: float = 0.01
    #: stiffness map: "subtraction" (Xie: nodule test - nodule-free test), "ratio" (force/displacement), "both"
    stiffness_map: Literal["subtraction", "ratio", "both"] = "both"
    #: baseline (nodule-free) recording for the subtraction map; "" = the sequence's lowest-force frame
    baseline: str = ""
    # --- estimators ---------------------------------------------------------------------
    task: Literal["inverse_features", "inverse_image", "shape", "slip", "hardness"] = "inverse_features"
    n_train: int = 1200
    n_val: int = 300
    n_test: int = 400
    epochs: int = 40
    batch_size: int = 64
    lr: float = 3e-3
    hidden: int = 64                        # MLP width (three-layer NN, Liu 2012 / Lee & Won 2013)
    convlstm_layers: int = 5                # Zapata-Impata 2019: 5 ConvLSTM layers
    convlstm_filters: int = 32              # ... 32 filters of 3 x 3
    slip_frames: int = 5                    # 3-5 consecutive tactile images (50 ms)
    train_seconds: float | None = 600.0     # wall-clock cap per training run on the shared CPU
    threads: int = 1
    # --- streaming ------------------------------------------------------------------------
    #: playback speed: 1.0 = the recording's frame rate, 0 = as fast as possible
    playback_speed: float = 0.0

    def validate(self) -> None:
        super().validate()
        positive = ("frame_rate_hz", "tissue_modulus_kpa", "inclusion_modulus_kpa", "inclusion_diameter_mm",
                    "block_size_mm", "block_thickness_mm", "taxel_pitch_mm", "skin_stiffness_n_mm3",
                    "influence_radius_mm", "nodule_threshold_n", "nodule_excess_threshold_n", "tsis_threshold_n", "lr")
        checks = [(key, getattr(self, key) > 0, "must be > 0") for key in positive]
        checks += [
            ("array_order", self.array_order in ("MNT", "TMN"), "must be 'MNT' or 'TMN'"),
            ("poisson_ratio", 0 <= self.poisson_ratio < 0.5, "must be in [0, 0.5)"),
            ("inclusion_depth_mm", self.inclusion_depth_mm > 0, "must be > 0"),
            ("indentation_mm", self.indentation_mm >= 0, "must be >= 0"),
            ("noise_n", self.noise_n >= 0, "must be >= 0"),
            ("sensor_rows", self.sensor_rows >= 1, "must be >= 1"),
            ("sensor_cols", self.sensor_cols >= 1, "must be >= 1"),
            ("nodule_free_max_n", 0 <= self.nodule_free_max_n <= self.nodule_threshold_n,
             "must be in [0, nodule_threshold_n]"),
            ("stiffness_map", self.stiffness_map in ("subtraction", "ratio", "both"),
             "must be 'subtraction', 'ratio' or 'both'"),
            ("task", self.task in ("inverse_features", "inverse_image", "shape", "slip", "hardness"),
             "must be one of inverse_features, inverse_image, shape, slip, hardness"),
            ("n_train", self.n_train >= 8, "must be >= 8"),
            ("n_val", self.n_val >= 2, "must be >= 2"),
            ("n_test", self.n_test >= 2, "must be >= 2"),
            ("epochs", self.epochs >= 1, "must be >= 1"),
            ("batch_size", self.batch_size >= 1, "must be >= 1"),
            ("hidden", self.hidden >= 2, "must be >= 2"),
            ("convlstm_layers", self.convlstm_layers >= 1, "must be >= 1"),
            ("convlstm_filters", self.convlstm_filters >= 1, "must be >= 1"),
            ("slip_frames", 2 <= self.slip_frames <= 10, "must be in [2, 10]"),
            ("train_seconds", self.train_seconds is None or self.train_seconds > 0, "must be > 0 or null"),
            ("threads", self.threads >= 1, "must be >= 1"),
            ("playback_speed", self.playback_speed >= 0, "must be >= 0"),
        ]
        self.check_rules(checks)
