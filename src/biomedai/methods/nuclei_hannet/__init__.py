"""Han-Net nuclear segmentation in H&E (He et al.): hybrid-attention nested UNet, 3-class output."""
from .pipeline import HanNetMethod

__all__ = ["HanNetMethod"]
