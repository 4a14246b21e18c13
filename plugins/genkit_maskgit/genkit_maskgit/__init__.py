"""genkit-maskgit: a masked-token prior (role ``prior``, kind ``maskgit``) decoded in parallel, MaskGIT-style."""

from genkit_maskgit.model import MaskGITPrior
from genkit_maskgit.params import MaskGITParams

__all__ = ["MaskGITParams", "MaskGITPrior"]
