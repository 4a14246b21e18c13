"""Run under torchrun: one epoch of the webdataset stream on this rank with 2 DataLoader workers; writes the keys
it saw to OUT/keys_RANK.json. Usage: torchrun --nproc-per-node 2 epoch_keys_script.py SHARDS OUT"""

import json
import sys
from pathlib import Path

import torch

import genkit
from genkit.data.loader import LoaderSettings, PartBatches, make_loader
from genkit.distributed.env import detect, shutdown


def main() -> None:
    shards, out = sys.argv[1], Path(sys.argv[2])
    env = detect()
    data = genkit.build_component(
        "dataset",
        genkit.make_params("dataset", "webdataset", {"shards": shards, "validation_shards": shards, "size": 16}),
    )
    batches = PartBatches(
        data.stream("train"),
        lambda items, step: [i.meta["key"] for i in items],
        4,
        seed=5,
        rank=env.rank,
        world=env.world_size,
        epochs=1,
    )
    loader = make_loader(batches, LoaderSettings(workers=2), torch.device("cpu"), seed=5)
    keys = [key for _, batch, _ in loader for key in batch]
    (out / f"keys_{env.rank}.json").write_text(json.dumps(keys))
    shutdown()


if __name__ == "__main__":
    main()
