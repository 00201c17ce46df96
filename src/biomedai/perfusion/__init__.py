"""Perfusion MRI (DCE): signal to concentration, population AIFs, Tofts / extended Tofts / Patlak fits per voxel
(vectorised), fit-quality maps and semi-quantitative maps.

A shared layer rather than part of one method: the models and conversions are the OSIPI community's
(checked against its test data, ``../shared/data/dce_osipi``) and any DCE method (breast, prostate, brain) needs
them; the Fan et al. breast method (``methods/dce_nact``) uses them only as optional extra feature images.

Example:
    >>> import numpy as np
    >>> from biomedai.perfusion import parker_aif, tofts_concentration, fit_tofts
    >>> t = np.arange(0, 300, 2.0)
    >>> ca = parker_aif(t, delay=10)
    >>> c = tofts_concentration(t, ca, ktrans=0.2, ve=0.3)
    >>> fit = fit_tofts(t, ca, c[None])
    >>> round(float(fit.params["Ktrans"][0]), 3), round(float(fit.params["ve"][0]), 3)
    (0.2, 0.3)
"""
from __future__ import annotations

from .aif import parker_aif
from .fit import PKFit, fit_extended_tofts, fit_patlak, fit_tofts
from .models import exp_convolve, extended_tofts_concentration, patlak_concentration, tofts_concentration
from .semiquant import semi_quantitative_maps
from .signal import signal_to_concentration, spgr_signal, vfa_t1

__all__ = ["parker_aif", "PKFit", "fit_tofts", "fit_extended_tofts", "fit_patlak", "exp_convolve",
           "tofts_concentration", "extended_tofts_concentration", "patlak_concentration",
           "semi_quantitative_maps", "signal_to_concentration", "spgr_signal", "vfa_t1"]
