"""The plugin module the ``genkit`` entry point names: ``tokenizer`` kind ``bpe`` and ``genkit tokenizer``."""

from __future__ import annotations

import genkit
from genkit_bpe.cli import run_tokenizer_command, setup_tokenizer_command
from genkit_bpe.params import BPEParams
from genkit_bpe.tokenizer import BPETokenizer


def build_bpe(params: BPEParams, context: genkit.BuildContext) -> BPETokenizer:
    """An untrained tokenizer (bytes only, no merges): usable at once, ``train(corpus)`` learns the merges."""
    return BPETokenizer(params)


@genkit.hookimpl
def genkit_register_components(register) -> None:
    register(
        "tokenizer",
        "bpe",
        params=BPEParams,
        build=build_bpe,
        description="Byte-level BPE on the Hugging Face tokenizers engine, DALL-E conventions: NFKC, lowercase, "
        "collapsed whitespace, vocabulary 16384, at most 256 tokens, seeded BPE dropout for training, truncation "
        "counted, never an unknown character.",
    )


@genkit.hookimpl
def genkit_register_commands(cli) -> None:
    cli.add_command(
        "tokenizer",
        help="train a BPE text tokenizer from captions into a genkit export",
        setup=setup_tokenizer_command,
        run=run_tokenizer_command,
        description="genkit tokenizer train CAPTIONS --vocab-size N --out DIR: learn a byte-level BPE vocabulary from "
        "a text file (one caption per line) or a captions.jsonl (the 'caption' of each object; only the train "
        "split when objects carry a 'split') and write DIR/model_index.json + DIR/tokenizer/.",
    )
