"""Virtual Ki-67 IHC from H&E (Xu et al. 2020): conditional CycleGAN with a MIL tumour/normal condition."""
from .pipeline import VirtualIHCMethod

__all__ = ["VirtualIHCMethod"]
