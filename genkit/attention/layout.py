"""AttentionLayout: which keys each query of a [text ; image] stream may attend to, for one layer."""

from __future__ import annotations

from dataclasses import dataclass

LAYER_TYPES = ("full", "row", "column", "conv")


@dataclass(frozen=True)
class AttentionLayout:
    """The attention pattern of one layer over the stream ``[text (text_length) ; image (h*w, raster order)]``.

    Positions are indices into that stream (query ``p`` may attend key ``q``). For every layer type:

    - every key is at or before its query (causal);
    - a text query attends the text keys before it (causal text);
    - an image query attends every text key;
    - image query ``n`` (raster index ``p - text_length``) attends image key ``m <= n`` when the layer type allows:
      ``full``: always; ``row``: ``n - m <= w`` (itself and the previous ``w`` positions); ``column``:
      ``(n - m) % w == 0`` (causal within its column); ``conv``: ``|row(n) - row(m)| <= conv_kernel // 2`` and
      ``|col(n) - col(m)| <= conv_kernel // 2`` (the causal part of a ``conv_kernel`` x ``conv_kernel``
      neighbourhood centred on the query).
    """

    text_length: int
    grid: tuple[int, int]
    layer_type: str = "full"
    conv_kernel: int = 11

    def __post_init__(self) -> None:
        if self.layer_type not in LAYER_TYPES:
            raise ValueError(f"attention layer type {self.layer_type!r}: expected one of {', '.join(LAYER_TYPES)}")
        if self.text_length < 0:
            raise ValueError(f"text_length must be >= 0, got {self.text_length}")
        h, w = self.grid
        if h < 1 or w < 1:
            raise ValueError(f"grid must be at least 1x1, got {self.grid}")
        if self.conv_kernel < 1 or self.conv_kernel % 2 == 0:
            raise ValueError(f"conv_kernel must be a positive odd number, got {self.conv_kernel}")
        object.__setattr__(self, "grid", (int(h), int(w)))

    @property
    def image_length(self) -> int:
        return self.grid[0] * self.grid[1]

    @property
    def length(self) -> int:
        """Length of the whole stream (text then image)."""
        return self.text_length + self.image_length

    @property
    def is_causal(self) -> bool:
        """True when the pattern is exactly the plain causal mask (``full`` layers)."""
        return self.layer_type == "full"


def paper_schedule(depth: int) -> list[str]:
    """The paper's layer types: layer ``i`` (1-based) is ``column`` if ``(i - 2) % 4 == 0`` else ``row``; the last
    layer is ``conv``."""
    if depth < 1:
        raise ValueError(f"depth must be >= 1, got {depth}")
    types = ["column" if (i - 2) % 4 == 0 else "row" for i in range(1, depth + 1)]
    types[-1] = "conv"
    return types
