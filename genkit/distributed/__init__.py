"""Launch environment (torchrun), FSDP2 sharding and DDP (+ PowerSGD) for the trainer."""

from genkit.distributed.env import DistEnv, all_reduce_max, all_reduce_mean, barrier, broadcast_object, detect
from genkit.distributed.wrap import ModelCall, is_sharded, wrap_model

__all__ = [
    "DistEnv",
    "ModelCall",
    "all_reduce_max",
    "all_reduce_mean",
    "barrier",
    "broadcast_object",
    "detect",
    "is_sharded",
    "wrap_model",
]
