import pytest
import torch

from genkit.images import _wrap, image_grid, pil_to_tensor, tensor_to_pil


def test_wrap_breaks_long_labels_and_honours_newlines():
    assert _wrap("a large blue diamond at the top left", 12) == ["a large blue", "diamond at", "the top left"]
    assert _wrap("a red circle\n#1 0.872", 40) == ["a red circle", "#1 0.872"]
    assert _wrap("", 10) == [""]


def test_grid_places_tiles_and_grows_a_label_strip_for_the_longest_label():
    images = torch.zeros(3, 3, 8, 8)
    images[1, 0] = 1.0  # red tile
    plain = image_grid(images, nrow=2, padding=2)
    assert plain.size == (2 * 10 + 2, 2 * 10 + 2)
    assert plain.getpixel((2 + 10 + 3, 2 + 3)) == (255, 0, 0)  # the second tile sits to the right of the first
    labelled = image_grid(images, nrow=3, labels=["one\ntwo", "x", ""], padding=2)
    assert labelled.size[1] == 8 + 2 * 11 + 2 + 2 + 2  # two lines of text under each tile


def test_round_trip_and_bad_shapes():
    image = torch.rand(3, 5, 7)
    assert torch.allclose(pil_to_tensor(tensor_to_pil(image)), image, atol=1 / 255)
    with pytest.raises(ValueError, match=r"\[3, H, W\]"):
        tensor_to_pil(torch.rand(5, 7))
    with pytest.raises(ValueError, match="labels"):
        image_grid(torch.rand(2, 3, 4, 4), labels=["only one"])
