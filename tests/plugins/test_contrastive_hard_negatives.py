"""The contrastive reranker's optional hard negatives: extra images a caption must score below its own."""

from __future__ import annotations

import torch

import genkit


def test_the_loss_pushes_a_caption_away_from_its_hard_negatives():
    context = genkit.BuildContext(image_size=16, text_vocab_size=12, text_length=4)
    params = {"width": 16, "depth": 1, "heads": 2, "image_widths": [8, 16], "groups": 4, "embed_dim": 16}
    model = genkit.build_component("reranker", genkit.make_params("reranker", "contrastive", params), context)
    gen = torch.Generator().manual_seed(0)
    ids, lengths = torch.randint(1, 12, (4, 4), generator=gen), torch.full((4,), 4)
    images, negatives = torch.rand(4, 3, 16, 16, generator=gen), torch.rand(4, 2, 3, 16, 16, generator=gen)
    plain, _ = model.training_loss(ids, lengths, images)
    loss, metrics = model.training_loss(ids, lengths, images, negatives=negatives)
    assert 0.0 <= metrics["beats_hard_negatives"] <= 1.0
    assert loss.item() > plain.item()  # more negatives in the text->image softmax can only raise its loss
    before = (
        model.embed_texts(ids, lengths)[:, None] * model.embed_images(negatives.flatten(0, 1)).view(4, 2, -1)
    ).sum(-1)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(30):
        optimizer.zero_grad()
        model.training_loss(ids, lengths, images, negatives=negatives)[0].backward()
        optimizer.step()
    with torch.no_grad():
        own = (model.embed_texts(ids, lengths) * model.embed_images(images)).sum(-1)
        after = (
            model.embed_texts(ids, lengths)[:, None] * model.embed_images(negatives.flatten(0, 1)).view(4, 2, -1)
        ).sum(-1)
    assert bool((own[:, None] > after).all()) and float(after.mean()) < float(before.mean())
    try:
        model.training_loss(ids, lengths, images, negatives=negatives[:3])
    except genkit.InputError as error:
        assert "negatives must be [B, K, 3, H, W]" in str(error)
    else:
        raise AssertionError("mismatched negatives were accepted")
