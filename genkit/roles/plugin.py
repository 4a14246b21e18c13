"""Built-in plugin: declares genkit's five roles (``genkit_register_roles``), the way a third party declares one.

Each :class:`genkit.RoleSpec` names the recipe section, the Protocol a component satisfies, and the build-context
facts a built component gives later components (the dataset: the image size; the tokenizer: its vocabulary and
length; the autoencoder: its vocabulary and token grid).
"""

from __future__ import annotations

from typing import Any

from genkit.plugins.hookspecs import hookimpl
from genkit.plugins.specs import RoleSpec
from genkit.roles.autoencoder import Autoencoder
from genkit.roles.dataset import Dataset
from genkit.roles.prior import Prior
from genkit.roles.reranker import Reranker
from genkit.roles.tokenizer import Tokenizer

ROLE_SPECS = (
    RoleSpec(
        "dataset",
        "data",
        Dataset,
        "Image-caption pairs with a train and a validation split.",
        required=True,
        provides=("image_size",),
        context_of=lambda data: {"image_size": int(data.image_size)},
    ),
    RoleSpec(
        "tokenizer",
        "tokenizer",
        Tokenizer,
        "Captions <-> token ids (trained on the training captions).",
        provides=("text_vocab_size", "text_length"),
        context_of=lambda tok: {"text_vocab_size": int(tok.vocab_size), "text_length": int(tok.max_length)},
    ),
    RoleSpec(
        "autoencoder",
        "autoencoder",
        Autoencoder,
        "Images <-> a grid of discrete tokens (stage 1).",
        provides=("image_vocab_size", "image_grid"),
        context_of=lambda ae: {"image_vocab_size": int(ae.vocab_size), "image_grid": tuple(int(g) for g in ae.grid)},
    ),
    RoleSpec("prior", "prior", Prior, "Draws image tokens given caption tokens (stage 2)."),
    RoleSpec("reranker", "reranker", Reranker, "Scores how well an image matches a caption (reranks candidates)."),
)


@hookimpl
def genkit_register_roles(register: Any) -> None:
    for role in ROLE_SPECS:
        register(role)
