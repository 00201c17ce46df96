"""Extraction parameters in PyRadiomics' params-file format (YAML or JSON), validated on load.

A params file has up to four top-level sections, exactly as PyRadiomics reads them:
``setting`` (extraction settings), ``imageType`` (filters to apply, each with optional
custom settings), ``featureClass`` (classes and, optionally, feature names to compute) and
``voxelSetting`` (voxel-based settings). Existing PyRadiomics files work unchanged; a key
that PyRadiomics would reject is reported by ``ConfigError`` naming the key.

Example:
    >>> p = RadiomicsParams.from_dict({"setting": {"binWidth": 10}, "featureClass": {"glcm": None}})
    >>> p.settings["binWidth"], list(p.feature_classes)
    (10, ['glcm'])
"""
from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..errors import ConfigError

__all__ = ["RadiomicsParams", "DEFAULT_SETTINGS", "FEATURE_NAMES", "DEPRECATED_FEATURES", "IMAGE_TYPES"]

#: Defaults applied before a file's ``setting`` section (PyRadiomics' defaults).
DEFAULT_SETTINGS: dict[str, Any] = {
    "minimumROIDimensions": 2,
    "minimumROISize": None,
    "normalize": False,
    "normalizeScale": 1,
    "removeOutliers": None,
    "resampledPixelSpacing": None,
    "interpolator": "sitkBSpline",
    "preCrop": False,
    "padDistance": 5,
    "distances": [1],
    "force2D": False,
    "force2Ddimension": 0,
    "resegmentRange": None,
    "label": 1,
    "additionalInfo": True,
}

#: Features of each class, in PyRadiomics' names (deprecated ones are listed separately).
FEATURE_NAMES: dict[str, tuple[str, ...]] = {
    "firstorder": ("10Percentile", "90Percentile", "Energy", "Entropy", "InterquartileRange", "Kurtosis",
                   "Maximum", "MeanAbsoluteDeviation", "Mean", "Median", "Minimum", "Range",
                   "RobustMeanAbsoluteDeviation", "RootMeanSquared", "Skewness", "TotalEnergy", "Uniformity",
                   "Variance"),
    "shape": ("Elongation", "Flatness", "LeastAxisLength", "MajorAxisLength", "Maximum2DDiameterColumn",
              "Maximum2DDiameterRow", "Maximum2DDiameterSlice", "Maximum3DDiameter", "MeshVolume",
              "MinorAxisLength", "Sphericity", "SurfaceArea", "SurfaceVolumeRatio", "VoxelVolume"),
    "shape2D": ("Elongation", "MajorAxisLength", "MaximumDiameter", "MeshSurface", "MinorAxisLength",
                "Perimeter", "PerimeterSurfaceRatio", "PixelSurface", "Sphericity"),
    "glcm": ("Autocorrelation", "ClusterProminence", "ClusterShade", "ClusterTendency", "Contrast", "Correlation",
             "DifferenceAverage", "DifferenceEntropy", "DifferenceVariance", "Id", "Idm", "Idmn", "Idn", "Imc1",
             "Imc2", "InverseVariance", "JointAverage", "JointEnergy", "JointEntropy", "MCC",
             "MaximumProbability", "SumAverage", "SumEntropy", "SumSquares"),
    "glrlm": ("GrayLevelNonUniformity", "GrayLevelNonUniformityNormalized", "GrayLevelVariance",
              "HighGrayLevelRunEmphasis", "LongRunEmphasis", "LongRunHighGrayLevelEmphasis",
              "LongRunLowGrayLevelEmphasis", "LowGrayLevelRunEmphasis", "RunEntropy", "RunLengthNonUniformity",
              "RunLengthNonUniformityNormalized", "RunPercentage", "RunVariance", "ShortRunEmphasis",
              "ShortRunHighGrayLevelEmphasis", "ShortRunLowGrayLevelEmphasis"),
    "glszm": ("GrayLevelNonUniformity", "GrayLevelNonUniformityNormalized", "GrayLevelVariance",
              "HighGrayLevelZoneEmphasis", "LargeAreaEmphasis", "LargeAreaHighGrayLevelEmphasis",
              "LargeAreaLowGrayLevelEmphasis", "LowGrayLevelZoneEmphasis", "SizeZoneNonUniformity",
              "SizeZoneNonUniformityNormalized", "SmallAreaEmphasis", "SmallAreaHighGrayLevelEmphasis",
              "SmallAreaLowGrayLevelEmphasis", "ZoneEntropy", "ZonePercentage", "ZoneVariance"),
    "gldm": ("DependenceEntropy", "DependenceNonUniformity", "DependenceNonUniformityNormalized",
             "DependenceVariance", "GrayLevelNonUniformity", "GrayLevelVariance", "HighGrayLevelEmphasis",
             "LargeDependenceEmphasis", "LargeDependenceHighGrayLevelEmphasis", "LargeDependenceLowGrayLevelEmphasis",
             "LowGrayLevelEmphasis", "SmallDependenceEmphasis", "SmallDependenceHighGrayLevelEmphasis",
             "SmallDependenceLowGrayLevelEmphasis"),
    "ngtdm": ("Busyness", "Coarseness", "Complexity", "Contrast", "Strength"),
}

#: Deprecated features: computed only when named explicitly (value) or accepted and skipped (None),
#: as PyRadiomics does.
DEPRECATED_FEATURES: dict[str, dict[str, bool]] = {
    "firstorder": {"StandardDeviation": True},
    "shape": {"Compactness1": True, "Compactness2": True, "SphericalDisproportion": True},
    "shape2D": {"SphericalDisproportion": True},
    "glcm": {"Dissimilarity": False, "Homogeneity1": False, "Homogeneity2": False, "SumVariance": False},
    "gldm": {"GrayLevelNonUniformityNormalized": False, "DependencePercentage": False},
    "glrlm": {}, "glszm": {}, "ngtdm": {},
}

#: Image types (filters) accepted in ``imageType``.
IMAGE_TYPES = ("Original", "LoG", "Wavelet", "Square", "SquareRoot", "Logarithm", "Exponential", "Gradient",
               "LBP2D", "LBP3D")

INTERPOLATORS = ("sitkNearestNeighbor", "sitkLinear", "sitkBSpline", "sitkGaussian", "sitkLabelGaussian",
                 "sitkHammingWindowedSinc", "sitkCosineWindowedSinc", "sitkWelchWindowedSinc",
                 "sitkLanczosWindowedSinc", "sitkBlackmanWindowedSinc")
WEIGHTING_NORMS = ("manhattan", "euclidean", "infinity", "no_weighting")


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _check_wavelet(v: Any) -> bool:
    if not isinstance(v, str):
        return False
    import pywt

    return v in pywt.wavelist()


def _check_interpolator(v: Any) -> bool:
    return v is None or (isinstance(v, str) and v in INTERPOLATORS) or (_is_int(v) and 0 <= v <= 9)


def _seq(check: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda v: isinstance(v, (list, tuple)) and all(check(x) for x in v)


# key -> (check, human-readable expectation); checks mirror PyRadiomics' schema.
_SETTING_CHECKS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "minimumROIDimensions": (lambda v: _is_int(v) and 1 <= v <= 3, "an integer from 1 to 3"),
    "minimumROISize": (lambda v: v is None or (_is_int(v) and v > 0), "a positive integer"),
    "geometryTolerance": (lambda v: v is None or (_is_number(v) and v > 0), "a positive number"),
    "correctMask": (lambda v: isinstance(v, bool), "true or false"),
    "additionalInfo": (lambda v: isinstance(v, bool), "true or false"),
    "label": (lambda v: _is_int(v) and v > 0, "a positive integer"),
    "label_channel": (lambda v: _is_int(v) and v >= 0, "a non-negative integer"),
    "binWidth": (lambda v: _is_number(v) and v > 0, "a positive number"),
    "binCount": (lambda v: v is None or (_is_int(v) and v > 0), "a positive integer"),
    # ours, not PyRadiomics': bin edges in float64 (PyRadiomics' integer edges can overflow, see bin_edges)
    "binEdgesFloat64": (lambda v: isinstance(v, bool), "true or false"),
    "normalize": (lambda v: isinstance(v, bool), "true or false"),
    "normalizeScale": (lambda v: _is_number(v) and v > 0, "a positive number"),
    "removeOutliers": (lambda v: v is None or (_is_number(v) and v > 0), "a positive number"),
    "resampledPixelSpacing": (lambda v: v is None or _seq(lambda x: _is_number(x) and x >= 0)(v),
                              "a list of non-negative numbers"),
    "interpolator": (_check_interpolator, f"one of {', '.join(INTERPOLATORS)}"),
    "padDistance": (lambda v: _is_int(v) and v >= 0, "a non-negative integer"),
    "distances": (lambda v: _seq(lambda x: _is_int(x) and x > 0)(v) and len(v) > 0, "a list of positive integers"),
    "force2D": (lambda v: isinstance(v, bool), "true or false"),
    "force2Ddimension": (lambda v: _is_int(v) and 0 <= v <= 2, "0, 1 or 2"),
    "resegmentRange": (lambda v: v is None or (_seq(_is_number)(v) and 1 <= len(v) <= 2),
                       "a list of one or two numbers"),
    "resegmentMode": (lambda v: v in ("absolute", "relative", "sigma"), "absolute, relative or sigma"),
    "resegmentShape": (lambda v: isinstance(v, bool), "true or false"),
    "preCrop": (lambda v: isinstance(v, bool), "true or false"),
    "sigma": (_seq(lambda x: _is_number(x) and x > 0), "a list of positive numbers"),
    "start_level": (lambda v: _is_int(v) and v >= 0, "a non-negative integer"),
    "level": (lambda v: _is_int(v) and v > 0, "a positive integer"),
    "wavelet": (_check_wavelet, "a PyWavelets wavelet name such as coif1 or haar"),
    "gradientUseSpacing": (lambda v: isinstance(v, bool), "true or false"),
    "lbp2DRadius": (lambda v: _is_number(v) and v > 0, "a positive number"),
    "lbp2DSamples": (lambda v: _is_int(v) and v >= 1, "a positive integer"),
    "lbp2DMethod": (lambda v: v in ("default", "ror", "uniform", "var"), "default, ror, uniform or var"),
    "lbp3DLevels": (lambda v: _is_int(v) and v >= 1, "a positive integer"),
    "lbp3DIcosphereRadius": (lambda v: _is_number(v) and v > 0, "a positive number"),
    "lbp3DIcosphereSubdivision": (lambda v: _is_int(v) and v >= 0, "a non-negative integer"),
    "voxelArrayShift": (lambda v: _is_number(v), "a number"),
    "symmetricalGLCM": (lambda v: isinstance(v, bool), "true or false"),
    "weightingNorm": (lambda v: v is None or v in WEIGHTING_NORMS, f"null or one of {', '.join(WEIGHTING_NORMS)}"),
    "gldm_a": (lambda v: _is_int(v) and v >= 0, "a non-negative integer"),
}

_VOXEL_CHECKS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "kernelRadius": (lambda v: _is_int(v) and v > 0, "a positive integer"),
    "maskedKernel": (lambda v: isinstance(v, bool), "true or false"),
    "initValue": (_is_number, "a number"),
    "voxelBatch": (_is_int, "an integer"),
}


def _check_settings(values: Any, section: str, checks: dict[str, tuple[Callable[[Any], bool], str]]) -> dict:
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise ConfigError(f"{section}: must be a mapping of setting names to values, got {type(values).__name__}")
    for key, value in values.items():
        if key not in checks:
            raise ConfigError(f"{section}.{key}: unknown setting; known settings: {', '.join(sorted(checks))}")
        check, expected = checks[key]
        if not check(value):
            raise ConfigError(f"{section}.{key}: invalid value {value!r}; expected {expected}")
    return dict(values)


@dataclass
class RadiomicsParams:
    """Validated extraction parameters (the four sections of a PyRadiomics params file).

    ``settings`` already holds the defaults merged with the file's ``setting`` and ``voxelSetting``
    sections; ``image_types`` maps an image type to its custom settings; ``feature_classes`` maps a
    class to the list of features asked for (``None`` or empty: all non-deprecated features).
    """

    settings: dict[str, Any] = field(default_factory=lambda: copy.deepcopy(DEFAULT_SETTINGS))
    image_types: dict[str, dict[str, Any]] = field(default_factory=lambda: {"Original": {}})
    feature_classes: dict[str, list[str] | None] = field(
        default_factory=lambda: {name: None for name in FEATURE_NAMES if name != "shape2D"})
    voxel_settings: dict[str, Any] = field(default_factory=dict)
    source: str = "params"

    @classmethod
    def from_dict(cls, values: dict[str, Any] | None, source: str = "params") -> RadiomicsParams:
        """Validate a params mapping (PyRadiomics layout); errors name the bad key."""
        values = {} if values is None else values
        if not isinstance(values, dict):
            raise ConfigError(f"{source}: a params file must be a mapping, got {type(values).__name__}")
        known = ("setting", "imageType", "featureClass", "voxelSetting")
        for key in values:
            if key not in known:
                raise ConfigError(f"{source}: unknown top-level key {key!r}; known keys: {', '.join(known)}")
        settings = copy.deepcopy(DEFAULT_SETTINGS)
        settings.update(_check_settings(values.get("setting"), f"{source}: setting", _SETTING_CHECKS))
        voxel = _check_settings(values.get("voxelSetting"), f"{source}: voxelSetting", _VOXEL_CHECKS)
        settings.update(voxel)

        image_types: dict[str, dict[str, Any]] = {}
        raw_types = values.get("imageType") or {}
        if not isinstance(raw_types, dict):
            raise ConfigError(f"{source}: imageType must be a mapping of image type names to settings")
        for name, custom in raw_types.items():
            if name not in IMAGE_TYPES:
                raise ConfigError(f"{source}: imageType.{name}: unknown image type; known: {', '.join(IMAGE_TYPES)}")
            image_types[name] = _check_settings(custom, f"{source}: imageType.{name}", _SETTING_CHECKS)
        if not image_types:
            image_types = {"Original": {}}

        feature_classes: dict[str, list[str] | None] = {}
        raw_classes = values.get("featureClass") or {}
        if not isinstance(raw_classes, dict):
            raise ConfigError(f"{source}: featureClass must be a mapping of class names to feature lists")
        for name, features in raw_classes.items():
            if name not in FEATURE_NAMES:
                raise ConfigError(f"{source}: featureClass.{name}: unknown feature class; "
                                  f"known: {', '.join(FEATURE_NAMES)}")
            if features is not None and not (isinstance(features, list) and all(isinstance(f, str) for f in features)):
                raise ConfigError(f"{source}: featureClass.{name}: must be null or a list of feature names")
            for feature in features or []:
                if feature not in FEATURE_NAMES[name] and feature not in DEPRECATED_FEATURES[name]:
                    raise ConfigError(f"{source}: featureClass.{name}: unknown feature {feature!r}; "
                                      f"known: {', '.join(FEATURE_NAMES[name])}")
            feature_classes[name] = list(features) if features else None
        if not raw_classes:
            feature_classes = {name: None for name in FEATURE_NAMES}
        return cls(settings=settings, image_types=image_types, feature_classes=feature_classes,
                   voxel_settings=voxel, source=source)

    @classmethod
    def from_file(cls, path: str | Path) -> RadiomicsParams:
        """Load a PyRadiomics params file (``.yaml``, ``.yml`` or ``.json``)."""
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"{path}: params file not found")
        text = path.read_text(encoding="utf-8")
        try:
            if path.suffix.lower() == ".json":
                data = json.loads(text)
            else:
                import yaml

                data = yaml.safe_load(text)
        except Exception as exc:  # yaml/json parse errors carry line numbers
            raise ConfigError(f"{path}: cannot parse params file: {exc}") from exc
        return cls.from_dict(data, source=str(path))

    @classmethod
    def coerce(cls, params: RadiomicsParams | dict | str | Path | None) -> RadiomicsParams:
        """Accept a ``RadiomicsParams``, a mapping, a file path or ``None`` (PyRadiomics defaults)."""
        if params is None:
            return cls()
        if isinstance(params, RadiomicsParams):
            return params
        if isinstance(params, dict):
            return cls.from_dict(params)
        if isinstance(params, (str, Path)):
            return cls.from_file(params)
        raise ConfigError(f"params: expected a mapping, a file path or RadiomicsParams, got {type(params).__name__}")

    def with_settings(self, **overrides: Any) -> RadiomicsParams:
        """A copy with some settings replaced (validated)."""
        _check_settings(overrides, f"{self.source}: setting", {**_SETTING_CHECKS, **_VOXEL_CHECKS})
        new = copy.deepcopy(self)
        new.settings.update(overrides)
        return new

    def to_dict(self) -> dict[str, Any]:
        """The PyRadiomics layout of these parameters (round-trips through :meth:`from_dict`)."""
        setting = {k: v for k, v in self.settings.items() if k not in self.voxel_settings}
        out: dict[str, Any] = {"setting": setting, "imageType": copy.deepcopy(self.image_types),
                               "featureClass": copy.deepcopy(self.feature_classes)}
        if self.voxel_settings:
            out["voxelSetting"] = dict(self.voxel_settings)
        return out
