"""genkit-dvae: DALL-E's discrete VAE as a genkit ``autoencoder`` plugin, and the OpenAI checkpoint import.

Public modules: ``networks`` (the encoder/decoder family, used by genkit-vqvae), ``common`` (input checks,
metrics, schedules), ``model`` (:class:`DVAE`), ``params``, ``openai_checkpoint`` (restricted unpickler).
"""

__version__ = "0.1.0"
