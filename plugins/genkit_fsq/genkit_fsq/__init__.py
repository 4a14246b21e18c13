"""genkit-fsq: a finite-scalar-quantization ``autoencoder`` plugin on genkit-dvae's public encoder/decoder family."""

__version__ = "0.1.0"
