"""The webdataset dataset kind and the streamed loader: shard patterns, exactly-once epochs over ranks and workers,
resuming mid-shard, and bad input skipped, counted and named."""

from __future__ import annotations

import logging
import os

import pytest
import torch
from shard_fixtures import write_shards

import genkit
from genkit.data.loader import LoaderSettings, PartBatches, PartPosition, TrainStream, iterate_epoch
from genkit.data.shards import expand_shards


def _data(root, **params):
    return genkit.build_component(
        "dataset", genkit.make_params("dataset", "webdataset", {"shards": str(root), "size": 16, **params})
    )


def _keys(items, step):
    return [item.meta["key"] for item in items]


def _epoch_keys(source, rank=0, world=1, workers=0, batch=5, shuffle=True):
    dataset = PartBatches(source, _keys, batch, seed=3, rank=rank, world=world, shuffle=shuffle, epochs=1)
    loader = torch.utils.data.DataLoader(dataset, batch_size=None, num_workers=workers)
    return [key for _, keys, _ in loader for key in keys]


def test_patterns_expand_and_bad_ones_name_the_pattern(tmp_path):
    write_shards(tmp_path, 3, 2)
    names = [os.path.basename(p) for p in expand_shards(str(tmp_path))]
    assert names == ["00000.tar", "00001.tar", "00002.tar"]  # the .parquet and _stats.json beside them are ignored
    assert expand_shards(str(tmp_path / "{00000..00002}.tar")) == expand_shards(str(tmp_path / "*.tar"))
    with pytest.raises(genkit.InputError, match=r"data.shards: .*nothing\*.tar: the pattern matches no file"):
        expand_shards(str(tmp_path / "nothing*.tar"))
    with pytest.raises(genkit.InputError, match=r"00003.tar"):
        expand_shards(str(tmp_path / "{00000..00003}.tar"))
    with pytest.raises(genkit.InputError, match="names no shards"):
        expand_shards("")
    with pytest.raises(genkit.InputError, match="data.shards"):
        _data("").stream("train")


@pytest.mark.parametrize("shards,workers,world", [(4, 2, 1), (8, 2, 2), (3, 2, 2), (1, 0, 2)])
def test_one_epoch_yields_every_key_exactly_once_across_ranks_and_workers(tmp_path, shards, workers, world):
    keys = write_shards(tmp_path, shards, 7)
    source = _data(tmp_path, validation_shards=str(tmp_path / "00000.tar")).stream("train")
    seen = [k for rank in range(world) for k in _epoch_keys(source, rank, world, workers)]
    assert sorted(seen) == sorted(keys)


def test_hash_split_keeps_validation_keys_out_of_training(tmp_path):
    keys = write_shards(tmp_path, 2, 30)
    data = _data(tmp_path, validation_fraction=0.2, validation_size=1000)
    train = set(_epoch_keys(data.stream("train")))
    validation = {example.meta["key"] for example in data.split("validation")}
    assert train and validation and not train & validation and train | validation == set(keys)
    assert all(example.image.shape == (3, 16, 16) for example in data.split("validation"))


def test_shuffle_is_seeded_and_mixes_within_shards(tmp_path):
    write_shards(tmp_path, 2, 20)
    source = _data(tmp_path, validation_shards=str(tmp_path / "00000.tar")).stream("train")
    a, b = _epoch_keys(source), _epoch_keys(source)
    assert a == b and a != sorted(a)
    assert _epoch_keys(source, shuffle=False) == sorted(a)


@pytest.mark.parametrize("workers,stop", [(0, 5), (2, 5), (2, 6)])
def test_a_resumed_stream_continues_with_the_same_keys(tmp_path, workers, stop):
    """Stop after `stop` micro-batches (mid-shard), save the position, resume in a fresh stream: the keys that
    follow are those of the uninterrupted stream (odd stops check the workers' rotation)."""
    write_shards(tmp_path, 3, 11)
    source = _data(tmp_path, validation_shards=str(tmp_path / "00000.tar")).stream("train")

    def stream():
        def build(start, positions):
            return PartBatches(
                source, _keys, 4, seed=1, rank=0, world=1, shuffle_buffer=5, start=start, positions=positions
            )

        return TrainStream(build, LoaderSettings(workers=workers), torch.device("cpu"), seed=1, streamed=True)

    whole = stream()
    expected = [whole.next() for _ in range(stop + 12)]  # more than an epoch: the stream goes on into the next
    first = stream()
    got = [first.next() for _ in range(stop)]
    state = first.state_dict()
    assert any(0 < p[2] for p in state["positions"].values())  # stopped inside a shard
    resumed = stream()
    resumed.load_state_dict(state)
    got += [resumed.next() for _ in range(12)]
    assert got == expected


def test_resuming_with_another_worker_count_is_refused(tmp_path):
    stream = TrainStream(lambda s, p: None, LoaderSettings(workers=1), torch.device("cpu"), 0, streamed=True)
    with pytest.raises(genkit.InputError, match="stages.prior.workers.*2 workers"):
        stream.load_state_dict({"counter": 3, "workers": 2, "positions": {}}, "stages.prior")


def test_bad_members_and_shards_are_skipped_counted_and_named(tmp_path, caplog):
    bad = {
        "000000001": {"jpg": b"\xff\xd8 not a jpeg", "txt": b"corrupt"},
        "000000002": {"jpg": write_shards.__globals__["jpeg"](1)},  # no caption
        "000000003": {"jpg": write_shards.__globals__["jpeg"](2), "txt": b"\xff\xfe latin-1 \xe9"},
    }
    keys = write_shards(tmp_path, 3, 6, bad=bad)
    data = (tmp_path / "00002.tar").read_bytes()
    (tmp_path / "00002.tar").write_bytes(data[: len(data) // 2])  # truncated
    source = _data(tmp_path, validation_shards=str(tmp_path / "00000.tar")).stream("train")
    with caplog.at_level(logging.WARNING, logger="genkit.data"):
        seen = _epoch_keys(source, shuffle=False)
    good = [k for k in keys[:12] if k not in bad]
    assert seen[: len(good)] == good and 0 < len(seen) - len(good) < 6  # what was readable of the truncated shard
    for key, reason in [
        ("000000001", "corrupt .jpg"),
        ("000000002", "no caption"),
        ("000000003", "caption is not UTF-8"),
        ("00002.tar", "truncated or corrupt tar"),
    ]:
        assert any(key in r.message and reason in r.message for r in caplog.records), (key, caplog.text)


def test_a_shard_that_disappears_mid_run_is_skipped_and_named(tmp_path, caplog):
    write_shards(tmp_path, 3, 4)
    source = _data(tmp_path, validation_shards=str(tmp_path / "00000.tar")).stream("train")
    (tmp_path / "00001.tar").unlink()
    with caplog.at_level(logging.WARNING, logger="genkit.data"):
        seen = _epoch_keys(source, shuffle=False)
    assert len(seen) == 8 and "00001.tar: missing shard" in caplog.text


def test_a_stream_with_nothing_readable_stops_with_one_line(tmp_path):
    write_shards(tmp_path, 1, 3, bad={f"00000000{i}": {"txt": b"no image"} for i in range(3)})
    source = _data(tmp_path, validation_shards=str(tmp_path / "00000.tar")).stream("train")
    batches = PartBatches(source, _keys, 2, seed=0, rank=0, world=1)
    with pytest.raises(genkit.InputError, match="no readable sample in a whole epoch of .*00000.tar"):
        next(iter(batches))


def test_captions_stream_without_reading_images(tmp_path):
    keys = write_shards(tmp_path, 2, 5)
    data = _data(tmp_path, validation_shards=str(tmp_path / "00000.tar"))
    assert list(data.captions("train")) == [f"caption {k}" for k in keys]
    json_data = _data(tmp_path, validation_shards=str(tmp_path / "00000.tar"), caption_key="json:caption")
    assert list(json_data.captions("train")) == [f"caption {k}" for k in keys]


def test_iterate_epoch_batches_every_sample_once(tmp_path):
    keys = write_shards(tmp_path, 2, 9)
    source = _data(tmp_path, validation_shards=str(tmp_path / "00000.tar")).stream("train")
    batches = list(iterate_epoch(source, _keys, 4, workers=2))
    assert sorted(k for b in batches for k in b) == sorted(keys) and max(len(b) for b in batches) == 4


def test_positions_restart_inside_a_shard_without_decoding_the_skipped_samples(tmp_path):
    write_shards(tmp_path, 1, 10)
    source = _data(tmp_path, validation_shards=str(tmp_path / "00000.tar")).stream("train")
    decoded = []
    original = source.decode
    source.decode = lambda raw, generator: decoded.append(raw["__key__"]) or original(raw, generator)
    batches = PartBatches(source, _keys, 3, seed=0, rank=0, world=1, positions={0: PartPosition(0, 0, 6)}, epochs=1)
    keys = [k for _, b, _ in batches for k in b]
    assert len(keys) == 4 and decoded == keys
