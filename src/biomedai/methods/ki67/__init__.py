"""Ki-67: IHC quantification and Ki-67 positivity predicted from morphology (Liu et al. 2020)."""
from .pipeline import Ki67Method

__all__ = ["Ki67Method"]
