"""genkit-vqgan: taming-transformers' VQGAN as an ``autoencoder`` plugin, with ``genkit import vqgan``."""

__version__ = "0.1.0"
