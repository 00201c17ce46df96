"""CT radiomics nomogram for disease-free survival in colorectal cancer (Cai et al.)."""
from .pipeline import CrcRadiomicsNomogram

__all__ = ["CrcRadiomicsNomogram"]
