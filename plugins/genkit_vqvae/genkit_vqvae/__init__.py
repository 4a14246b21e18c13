"""genkit-vqvae: a VQ-VAE ``autoencoder`` plugin built on genkit-dvae's public encoder/decoder family."""

__version__ = "0.1.0"
