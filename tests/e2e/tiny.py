"""A tiny all-stages recipe on the built-in shapes data, for end-to-end tests of the real plugins."""

TINY_RECIPE = {
    "seed": 0,
    "data": {"kind": "shapes", "size": 16, "count": 600, "validation_count": 64, "max_shapes": 1},
    "tokenizer": {"kind": "bpe", "vocab_size": 300, "max_length": 12},
    "autoencoder": {
        "kind": "vqvae",
        "codebook_size": 64,
        "downsample": 4,
        "hidden": 16,
        "blocks_per_group": 1,
        "codebook_dim": 8,
    },
    "prior": {
        "kind": "sparse_transformer",
        "width": 32,
        "depth": 2,
        "heads": 2,
        "attention": "paper",
        "conv_kernel": 3,
    },
    "reranker": {
        "kind": "contrastive",
        "width": 32,
        "depth": 1,
        "heads": 2,
        "image_widths": [8, 16],
        "groups": 4,
        "embed_dim": 16,
    },
    "stages": {
        "autoencoder": {"steps": 20, "batch": 16, "lr": 1e-3, "validate_every": 20, "validation_batches": 1},
        "prior": {"steps": 20, "batch": 16, "lr": 1e-3, "validate_every": 20, "validation_batches": 1},
        "reranker": {"steps": 20, "batch": 16, "lr": 1e-3, "validate_every": 20, "validation_batches": 1},
    },
}
