"""BioSegment (Strobel et al.): vessel length density by box detection and linking along polylines, next to a
U-Net + skeleton-graph segmentation path and a Frangi baseline."""
from .pipeline import VesselsBioSegmentMethod

__all__ = ["VesselsBioSegmentMethod"]
