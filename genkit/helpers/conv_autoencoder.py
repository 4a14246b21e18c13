"""The parameters shared by convolutional image autoencoders built as groups of resblocks (public:
``genkit.helpers.conv_autoencoder``): the dvae and vqvae plugins' encoder/decoder layout, one source for both.

The encoder halves the image side between groups and the decoder doubles it back, so ``downsample`` (a power of
two) fixes the number of groups, ``log2(downsample) + 1``; group ``g`` is ``hidden * multipliers[g]`` channels
wide. A plugin subclasses :class:`ConvAutoencoderParams` with its own fields (a bottleneck's), and builds with
the ``(factor, multipliers)`` of :func:`resolve_multipliers`.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from genkit.errors import InputError
from genkit.plugins.context import BuildContext
from genkit.plugins.params import Params, too_many_parameters

MAX_DOWNSAMPLE = 1 << 10
MAX_WIDTH = 1 << 16
MAX_CODES = 1 << 20


def default_multipliers(groups: int) -> list[int]:
    """OpenAI's widths: group ``g`` (0-based) is ``2 ** g`` times the hidden width (1, 2, 4, 8 for 4 groups)."""
    return [2**g for g in range(groups)]


def groups_for_downsample(factor: int, where: str = "downsample") -> int:
    """Number of groups for a downsampling factor (a power of two >= 1): ``log2(factor) + 1``."""
    if factor < 1 or factor & (factor - 1):
        raise ValueError(f"{where}: must be a power of two >= 1, got {factor}")
    return factor.bit_length()


class ConvAutoencoderParams(Params):
    """The encoder/decoder layout and codebook of a convolutional autoencoder (defaults: the paper's 256 px dVAE,
    32x32 tokens and 8192 codes). A subclass re-declares a field only to describe it its own way."""

    codebook_size: int = Field(8192, ge=2, le=MAX_CODES, description="Number of codes K (the paper: 8192).")
    downsample: int = Field(
        8,
        ge=1,
        le=MAX_DOWNSAMPLE,
        description="Downsampling factor, a power of two: groups = log2(downsample) + 1 (8 -> 4 groups).",
    )
    hidden: int = Field(256, ge=4, le=MAX_WIDTH, multiple_of=4, description="Width of the first group (OpenAI: 256).")
    multipliers: tuple[int, ...] | None = Field(
        None, description="Width multiplier of each group, one per group (default 1, 2, 4, 8, ...)."
    )
    blocks_per_group: int = Field(2, ge=1, le=1024, description="Resblocks per group (OpenAI: 2).")
    decoder_blocks: tuple[int, ...] | None = Field(
        None,
        description="Resblocks in each decoder group, from the lowest resolution to the image's, one per group "
        "(default: blocks_per_group in every group). A low-resolution group is cheap: icons/vqvae_32px decodes "
        "with [2, 2, 1].",
    )
    codebook_dim: int = Field(128, ge=1, le=MAX_WIDTH, description="Width of the codebook vectors (OpenAI: 128).")

    @model_validator(mode="after")
    def _sane_size(self) -> ConvAutoencoderParams:
        """A lower bound of the encoder + decoder parameters (the two 3x3 convs of each resblock, and the
        codebook), against :data:`genkit.MAX_PARAMETERS` (raises ``ValueError``, as a pydantic validator)."""
        multipliers = self.multipliers or default_multipliers(self.downsample.bit_length())
        widths = [self.hidden * m for m in multipliers]
        decoder = self.decoder_blocks or [self.blocks_per_group] * len(widths)  # lowest resolution first
        estimate = sum(1.125 * w * w * (self.blocks_per_group + n) for w, n in zip(widths[::-1], decoder, strict=False))
        too_many_parameters(
            estimate + self.codebook_size * self.codebook_dim, "hidden x multipliers x blocks_per_group"
        )
        return self

    def recipe_problems(self, context: BuildContext) -> dict[str, str]:
        """What the build would refuse, found when the recipe validates: ``downsample`` a power of two, one
        ``multipliers`` and one ``decoder_blocks`` entry per group, and an image size (from the data section) that
        ``downsample`` divides (the token grid is ``image_size / downsample`` a side). The build keeps its own
        checks (:func:`resolve_multipliers`, :func:`resolve_decoder_blocks`) for params made outside a recipe
        (:func:`genkit.make_params`)."""
        factor = self.downsample
        if factor & (factor - 1):
            return {"downsample": f"must be a power of two (1, 2, 4, 8, ...), got {factor}"}
        problems = {}
        groups = factor.bit_length()
        if self.multipliers is not None and (len(self.multipliers) != groups or min(self.multipliers) < 1):
            problems["multipliers"] = (
                f"needs {groups} positive entries (one per group) for downsample {factor}, got {list(self.multipliers)}"
            )
        if self.decoder_blocks is not None and (len(self.decoder_blocks) != groups or min(self.decoder_blocks) < 1):
            problems["decoder_blocks"] = (
                f"needs {groups} positive entries (one per group) for downsample {factor}, "
                f"got {list(self.decoder_blocks)}"
            )
        size = context.image_size
        if size is not None and (size < factor or size % factor):
            problems["downsample"] = (
                f"{factor} does not divide the image size {size} of the data section "
                "(the token grid is image size / downsample)"
            )
        return problems


def resolve_multipliers(params: ConvAutoencoderParams, kind: str) -> tuple[int, list[int]]:
    """``(factor, multipliers)`` to build with, from ``downsample``/``multipliers`` (``multipliers`` defaults to
    :func:`default_multipliers`); a one-line :class:`genkit.InputError` naming the ``autoencoder`` ``kind`` when
    they disagree."""
    try:
        groups = groups_for_downsample(params.downsample, f"autoencoder {kind}: downsample")
    except ValueError as exc:
        raise InputError(str(exc)) from None
    multipliers = list(params.multipliers) if params.multipliers is not None else default_multipliers(groups)
    if len(multipliers) != groups or any(m < 1 for m in multipliers):
        raise InputError(
            f"autoencoder {kind}: multipliers needs {groups} positive entries for downsample {params.downsample}, "
            f"got {multipliers}"
        )
    return params.downsample, multipliers


def resolve_decoder_blocks(params: ConvAutoencoderParams, kind: str) -> list[int]:
    """Resblocks in each decoder group, lowest resolution first: ``decoder_blocks``, else ``blocks_per_group`` in
    every group; a one-line :class:`genkit.InputError` naming the ``autoencoder`` ``kind`` when the count of
    entries is not the number of groups."""
    _, multipliers = resolve_multipliers(params, kind)
    if params.decoder_blocks is None:
        return [params.blocks_per_group] * len(multipliers)
    blocks = list(params.decoder_blocks)
    if len(blocks) != len(multipliers) or min(blocks) < 1:
        raise InputError(
            f"autoencoder {kind}: decoder_blocks needs {len(multipliers)} positive entries for downsample "
            f"{params.downsample}, got {blocks}"
        )
    return blocks
