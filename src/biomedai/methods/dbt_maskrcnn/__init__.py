"""Fan et al. 3-D Mask R-CNN for mass detection and segmentation in digital breast tomosynthesis (spec
``breast-neuro.md`` section 1).

Registered method ``dbt_maskrcnn``; modules: geometry (3-D anchors, box coding, NMS, RoIAlign), model (3-D Mask
R-CNN), inference (sliding blocks through ``biomedai.data.blocks``), froc (lesion/breast FROC, AUFC, bootstrap
test), simulator and cohort (SIMULATED DBT), reader and outputs, baselines, evaluate (Tables 2-4).
"""
from .pipeline import DbtMaskRcnnMethod

__all__ = ["DbtMaskRcnnMethod"]
