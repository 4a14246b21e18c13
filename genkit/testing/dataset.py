"""The conformance suite every ``dataset`` plugin runs (see :class:`genkit.Dataset` for the contract).

Use from a plugin's tests; a dataset that reads files gets them written by the ``make_params`` hook::

    from genkit.testing import DatasetSuite

    class TestMyData(DatasetSuite):
        kind = "mydata"

        def make_params(self, tmp_path):
            write_a_few_items(tmp_path)  # yours: images and captions
            return {"path": str(tmp_path), "size": 16}

Checks (``test_*``): protocol, ``check()`` passes on valid data (skipped when the dataset has none), both splits
hold valid :class:`genkit.Example` items (``float[3, S, S]`` images in ``[0, 1]``, ``str`` captions, ``dict`` meta;
``IndexError`` past the end), two builds give the same items (train items read under the same torch seed, so random
crops must draw from torch's generator), the splits share no item, ``captions(name)`` are the split's captions,
and a *streamed* dataset's ``stream(name)`` reads and decodes (skipped for other datasets).

At most ``sample`` items of each split are read (spread over a random-access split, the head of a streamed one).
Items are told apart by ``identity(example)``: the caption and the image's bytes by default. A random training crop
differs from the validation centre crop of the same picture, so for a dataset with random crops either turn them off
in ``params`` or override ``identity`` (e.g. with a key kept in ``meta``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any, ClassVar

import pytest
import torch

import genkit
from genkit.testing.suite import Case, Suite

SPLITS = ("train", "validation")


def image_identity(example: genkit.Example) -> Hashable:
    """The default identity of an item: its caption and the bytes of its image."""
    digest = hashlib.sha1(example.image.detach().cpu().contiguous().numpy().tobytes()).hexdigest()
    return example.caption, digest


@dataclass(kw_only=True)
class DatasetCase(Case):
    """A dataset under test: ``sample`` is how many items of each split the checks read, ``identity`` tells items
    apart (for the disjointness of the splits)."""

    role: ClassVar[str] = "dataset"
    sample: int = 32
    identity: Callable[[genkit.Example], Hashable] = image_identity

    def items(self, dataset: Any, name: str) -> list[genkit.Example]:
        """At most ``sample`` items of split ``name``: spread over a random-access split (first and last
        included), the head of a streamed one (its validation split, its training stream)."""
        if not streamed(dataset):
            split = dataset.split(name)
            return [split[i] for i in spread(len(split), self.sample)]
        if name == "validation":
            split = dataset.split("validation")
            return [split[i] for i in range(min(len(split), self.sample))]
        return list(islice(stream_examples(dataset.stream(name)), self.sample))


def streamed(dataset: Any) -> bool:
    return bool(getattr(dataset, "streamed", False))


def spread(length: int, count: int) -> list[int]:
    """``count`` indices spread over ``range(length)`` (all of them when ``length <= count``), first and last kept."""
    if length <= count:
        return list(range(length))
    if count <= 1:
        return [0][:count]
    return sorted({round(i * (length - 1) / (count - 1)) for i in range(count)})


def stream_examples(source: Any) -> Iterator[genkit.Example]:
    """The examples of a streamed split's :class:`genkit.data.loader.PartSource`, part after part, centre crops;
    samples that fail to decode (``BadSample``) are skipped."""
    from genkit.data.shards import BadSample, SkipLog

    skips = SkipLog()
    for part in source.parts():
        for raw in source.read(part, skips):
            try:
                yield source.decode(raw, None)
            except BadSample:
                continue


def check_example(item: Any, size: int, where: str) -> None:
    """``item`` is a :class:`genkit.Example` with a finite ``float[3, size, size]`` image in ``[0, 1]``, a ``str``
    caption and ``dict`` meta."""
    assert isinstance(item, genkit.Example), f"{where} is a {type(item).__name__}, not a genkit.Example"
    image = item.image
    assert isinstance(image, torch.Tensor), f"{where}: image is a {type(image).__name__}, not a tensor"
    assert image.is_floating_point(), f"{where}: image dtype {image.dtype}, expected floating point"
    assert tuple(image.shape) == (3, size, size), (
        f"{where}: image shape {tuple(image.shape)}, expected (3, {size}, {size})"
    )
    assert bool(torch.isfinite(image).all()), f"{where}: non-finite pixels"
    low, high = float(image.min()), float(image.max())
    assert low >= 0.0 and high <= 1.0, f"{where}: pixels in [{low:.3f}, {high:.3f}], outside [0, 1]"
    assert isinstance(item.caption, str), f"{where}: caption is a {type(item.caption).__name__}, not a str"
    assert isinstance(item.meta, dict), f"{where}: meta is a {type(item.meta).__name__}, not a dict"


def check_protocol(case: DatasetCase) -> None:
    """Satisfies :class:`genkit.Dataset` with a positive ``int`` ``image_size``; a streamed dataset has
    ``stream(name)``; ``in_memory`` is a bool when present."""
    dataset = case.build()
    assert isinstance(dataset, genkit.Dataset), f"{type(dataset).__name__} does not satisfy genkit.Dataset"
    size = dataset.image_size
    assert isinstance(size, int) and size > 0, f"image_size must be a positive int, got {size!r}"
    if streamed(dataset):
        assert callable(getattr(dataset, "stream", None)), "a streamed dataset (streamed = True) needs stream(name)"
    in_memory = getattr(dataset, "in_memory", False)
    assert isinstance(in_memory, bool), f"in_memory must be a bool, got {in_memory!r}"


def check_check(case: DatasetCase) -> None:
    """``check()``, when the dataset has one, passes on valid data."""
    dataset = case.build()
    if not callable(getattr(dataset, "check", None)):
        pytest.skip("the dataset has no check() (it is optional)")
    try:
        dataset.check()
    except genkit.InputError as exc:
        raise AssertionError(f"check() refuses valid data: {exc}") from exc


def check_splits(case: DatasetCase) -> None:
    """Both splits hold valid examples of ``image_size``; a random-access split is a non-empty sequence whose
    ``[len(split)]`` raises ``IndexError``."""
    dataset = case.build()
    for name in SPLITS:
        if not streamed(dataset):
            split = dataset.split(name)
            assert len(split) > 0, f"the {name} split is empty"
            try:
                split[len(split)]
            except IndexError:
                pass
            else:
                raise AssertionError(f"{name} split: index {len(split)} (= len) does not raise IndexError")
        items = case.items(dataset, name)
        assert items, f"the {name} split yields no item"
        for i, item in enumerate(items):
            check_example(item, dataset.image_size, f"{name} item {i}")


def check_deterministic(case: DatasetCase) -> None:
    """Two builds give the same items (captions, meta and images; training items read under the same torch seed)
    and the same captions."""
    first, second = case.build(), case.build()
    for name in SPLITS:
        torch.manual_seed(case.seed)
        a = case.items(first, name)
        torch.manual_seed(case.seed)
        b = case.items(second, name)
        assert len(a) == len(b), f"{name} split: {len(a)} items, then {len(b)} from a second build"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert x.caption == y.caption, f"{name} item {i}: caption {x.caption!r}, then {y.caption!r}"
            assert x.meta == y.meta, f"{name} item {i}: meta differs between two builds"
            assert torch.equal(x.image, y.image), f"{name} item {i}: the image differs between two builds"
        head_a = list(islice(first.captions(name), case.sample))
        head_b = list(islice(second.captions(name), case.sample))
        assert head_a == head_b, f"captions({name!r}) differ between two builds"


def check_disjoint_splits(case: DatasetCase) -> None:
    """No item (by ``identity``) is in both splits."""
    dataset = case.build()
    train = {case.identity(item): item for item in case.items(dataset, "train")}
    shared = [item for item in case.items(dataset, "validation") if case.identity(item) in train]
    assert not shared, f"{len(shared)} validation item(s) also in train, e.g. caption {shared[0].caption!r}"


def check_captions(case: DatasetCase) -> None:
    """``captions(name)`` are the captions of the split's items, in order (the head of a streamed split)."""
    dataset = case.build()
    for name in SPLITS:
        captions = dataset.captions(name)
        if streamed(dataset):
            items = case.items(dataset, name)
            head = list(islice(captions, len(items)))
            assert all(isinstance(c, str) for c in head), f"captions({name!r}) yields a non-str"
            assert head == [item.caption for item in items], f"captions({name!r}) differ from the {name} items'"
            continue
        captions = list(captions)
        split = dataset.split(name)
        assert len(captions) == len(split), f"captions({name!r}) has {len(captions)} entries, the split {len(split)}"
        for i in spread(len(split), case.sample):
            caption = split[i].caption
            assert captions[i] == caption, f"captions({name!r})[{i}] = {captions[i]!r}, the item says {caption!r}"


def check_stream(case: DatasetCase) -> None:
    """A streamed dataset: ``stream(name).parts()`` is a fixed non-empty list of names, and the first part reads
    raw samples that ``describe`` names and ``decode`` turns into valid examples."""
    dataset = case.build()
    if not streamed(dataset):
        pytest.skip("not a streamed dataset (streamed = True): nothing to stream")
    for name in SPLITS:
        source = dataset.stream(name)
        parts = source.parts()
        assert isinstance(parts, list) and parts, f"stream({name!r}).parts() must be a non-empty list"
        assert all(isinstance(p, str) for p in parts), f"stream({name!r}).parts() must name its parts with str"
        assert parts == dataset.stream(name).parts(), f"stream({name!r}).parts() changes between calls"
        items = list(islice(stream_examples(source), case.sample))
        assert items, f"stream({name!r}) decodes no example from its parts"
        for i, item in enumerate(items):
            check_example(item, dataset.image_size, f"stream({name!r}) item {i}")
        from genkit.data.shards import SkipLog

        raw = next(iter(source.read(parts[0], SkipLog())), None)
        if raw is not None:
            assert isinstance(source.describe(raw), str), f"stream({name!r}).describe(raw) must be a str"


class DatasetSuite(Suite):
    """The dataset checks as a test class: subclass it with ``kind`` and ``params`` (or ``make_params``), see the
    module docstring. ``sample`` bounds the items read per split; override ``identity`` to tell items apart."""

    role: ClassVar[str] = "dataset"
    case_type: ClassVar[type[Case]] = DatasetCase
    sample: ClassVar[int] = 32

    def identity(self, example: genkit.Example) -> Hashable:
        """What makes two items the same item (default: :func:`image_identity`)."""
        return image_identity(example)

    def case_options(self, tmp_path: Path) -> dict[str, Any]:
        return {"sample": self.sample, "identity": self.identity}

    def test_protocol(self, genkit_conformance: DatasetCase) -> None:
        self.check(check_protocol, genkit_conformance)

    def test_check(self, genkit_conformance: DatasetCase) -> None:
        self.check(check_check, genkit_conformance)

    def test_splits(self, genkit_conformance: DatasetCase) -> None:
        self.check(check_splits, genkit_conformance)

    def test_deterministic(self, genkit_conformance: DatasetCase) -> None:
        self.check(check_deterministic, genkit_conformance)

    def test_disjoint_splits(self, genkit_conformance: DatasetCase) -> None:
        self.check(check_disjoint_splits, genkit_conformance)

    def test_captions(self, genkit_conformance: DatasetCase) -> None:
        self.check(check_captions, genkit_conformance)

    def test_stream(self, genkit_conformance: DatasetCase) -> None:
        self.check(check_stream, genkit_conformance)
