"""Codebook usage and perplexity over a whole split (the autoencoder stage pools every validation batch)."""

import math

import torch

from genkit.stages.autoencoder import codebook_metrics


def test_uniform_half_used_codebook():
    counts = torch.tensor([5.0, 5.0, 0.0, 0.0], dtype=torch.float64)
    metrics = codebook_metrics(counts)
    assert metrics["codebook_usage"] == 0.5 and math.isclose(metrics["perplexity"], 2.0)


def test_pooling_batches_counts_codes_a_single_batch_misses():
    first, second = torch.tensor([3.0, 0, 0, 0]), torch.tensor([0, 1.0, 1.0, 1.0])
    assert codebook_metrics(first.double())["codebook_usage"] == 0.25
    assert codebook_metrics((first + second).double())["codebook_usage"] == 1.0
    assert math.isclose(codebook_metrics(torch.ones(8, dtype=torch.float64))["perplexity"], 8.0)
