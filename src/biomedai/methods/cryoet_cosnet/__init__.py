"""COS-Net (Zhou et al. 2020): one-shot classification and attention-guided segmentation in cryo-ET."""
from .pipeline import CosNetMethod

__all__ = ["CosNetMethod"]
