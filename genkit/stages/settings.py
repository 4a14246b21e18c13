"""Settings models of genkit's stages: what each ``stages.NAME`` recipe section holds (declared with the stage in
:mod:`genkit.stages.plugin`)."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field, ValidationInfo, field_validator, model_validator

from genkit.plugins.params import SaneNumbers
from genkit.steps import Steps


class _Section(SaneNumbers):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TrainStage(_Section):
    """How one component is trained (``stages.autoencoder``, ``stages.prior``, ``stages.reranker``)."""

    steps: Steps = Field(1000, ge=1, description="Optimizer steps.")
    batch: int = Field(32, ge=1, description="Global batch size (summed over ranks and accumulation).")
    lr: float = Field(3e-4, gt=0, description="Peak learning rate.")
    min_lr: float = Field(0.0, ge=0, description="Final learning rate of the cosine schedule.")
    warmup: Steps = Field(0, ge=0, description="Linear warm-up steps from 0 to lr.")
    schedule: Literal["constant", "cosine", "plateau"] = Field(
        "cosine",
        description="cosine: lr -> min_lr after warm-up; plateau: halve lr when validation loss stops improving "
        "(the paper's prior schedule); constant: lr after warm-up.",
    )
    plateau_patience: int = Field(3, ge=1, description="Validations without improvement before a plateau halving.")
    weight_decay: float = Field(
        0.0, ge=0, description="AdamW decoupled weight decay (not applied to gains, biases, embeddings)."
    )
    betas: tuple[float, float] = Field(
        (0.9, 0.999), description="AdamW (beta1, beta2); the paper's prior uses beta2 0.96."
    )
    eps: float = Field(1e-8, gt=0, description="AdamW epsilon.")
    optim: Literal["adamw", "adamw8bit"] = Field(
        "adamw", description="adamw (fused where available) or adamw8bit (bitsandbytes, optional dependency)."
    )
    grad_clip: float | None = Field(None, gt=0, description="Clip the global gradient norm to this value.")
    accumulate: int = Field(1, ge=1, description="Micro-batches accumulated per optimizer step.")
    ema: float | None = Field(
        None, gt=0, lt=1, description="Parameter EMA decay (e.g. 0.999); the export uses the EMA weights."
    )
    precision: Literal["fp32", "bf16", "fp16"] = Field("fp32", description="Compute precision.")
    loss_scaling: Literal["dynamic", "per_resblock"] = Field(
        "dynamic", description="fp16 only: torch GradScaler, or the paper's one scale per residual block."
    )
    distributed: Literal["fsdp", "ddp"] = Field("fsdp", description="Under torchrun: FSDP2 fully_shard or DDP.")
    compile: bool = Field(
        False,
        description="torch.compile the model's blocks for the training steps (validation runs eagerly). If "
        "compilation fails, one warning says why and the stage runs eagerly. Not with loss_scaling: per_resblock.",
    )
    powersgd_rank: int | None = Field(None, ge=1, description="DDP only: PowerSGD gradient compression rank.")
    seed: int | None = Field(None, description="Seed for this stage; default: the recipe's seed.")
    log_every: Steps = Field(10, ge=1, description="Steps between metric lines in metrics.jsonl.")
    validate_every: Steps = Field(250, ge=1, description="Steps between validations.")
    validation_batches: int = Field(4, ge=1, description="Batches per validation.")
    checkpoint_every: Steps = Field(500, ge=1, description="Steps between resumable checkpoints.")
    tensorboard: bool = Field(False, description="Also write TensorBoard events (needs the tensorboard package).")
    divergence_factor: float | None = Field(
        1000.0,
        gt=1,
        description="Stop (keeping the last checkpoint, exporting nothing) when the smoothed training loss exceeds "
        "this multiple of its best value; null: never.",
    )
    max_skipped: float | None = Field(
        0.5,
        gt=0,
        le=1,
        description="Stop when more than this share of the last 100 steps skipped their update (non-finite "
        "gradients); null: never.",
    )
    workers: int | None = Field(
        None,
        ge=0,
        le=64,
        description="DataLoader worker processes that decode, resize and crop (0: in the training process). "
        "Default: 0 for data held in memory, else half the cores (1 to 4). Streamed data resumes only with the "
        "same number.",
    )
    prefetch: int = Field(2, ge=1, le=64, description="Micro-batches each worker prepares ahead.")
    shuffle_buffer: int = Field(
        1000,
        ge=1,
        description="Streamed data (shards): samples shuffled together inside a shard (1: tar order).",
    )

    @field_validator("betas")
    @classmethod
    def _betas_in_range(cls, betas: tuple[float, float]) -> tuple[float, float]:
        if not all(0 <= beta < 1 for beta in betas):
            raise ValueError(f"each AdamW beta must be in [0, 1), got {list(betas)}")
        return betas

    @model_validator(mode="after")
    def _compile_without_per_resblock_scales(self) -> TrainStage:
        if self.compile and self.precision == "fp16" and self.loss_scaling == "per_resblock":
            raise ValueError(
                "compile: true does not work with loss_scaling: per_resblock (a compiled backward would keep the "
                "first step's block scales); use precision: bf16, or loss_scaling: dynamic"
            )
        return self

    @field_validator("accumulate")
    @classmethod
    def _accumulate_divides_batch(cls, accumulate: int, info: ValidationInfo) -> int:
        batch = info.data.get("batch")
        if batch is not None and batch % accumulate:
            raise ValueError(f"batch {batch} is not divisible by accumulate {accumulate} (equal micro-batches)")
        return accumulate


class PriorStage(TrainStage):
    """``stages.prior``: the training settings above, plus how the image tokens are made (encoded once)."""

    views: int = Field(
        1,
        ge=1,
        le=64,
        description="Token views encoded per training image: the centre crop, plus views-1 random crops; the prior "
        "sees one at random per visit. Only data with random crops (folder, webdataset) gets different views.",
    )
    flip: bool = Field(
        False,
        description="Mirror the random-crop views at random (not for captions that say left or right).",
    )


class RerankerStage(TrainStage):
    """``stages.reranker``: the training settings above, plus hard negatives made with the autoencoder."""

    hard_negatives: int = Field(
        0,
        ge=0,
        description="Per caption, this many decoded copies of its own image with a few tokens replaced, as extra "
        "negatives of the caption (text->image InfoNCE): near misses like the prior's sampling errors. Needs "
        "the autoencoder export; 0 trains on in-batch negatives only.",
    )
    replaced_tokens: int = Field(
        2,
        ge=1,
        description="Tokens replaced in each hard negative, on or next to the image's content.",
    )


class SampleStage(_Section):
    """``stages.sample``: prompts drawn at the end of a run (and the defaults of ``genkit sample``)."""

    prompts: list[str] = Field(default_factory=list, description="Captions to draw images for.")
    candidates: int = Field(32, ge=1, description="Candidates drawn per prompt (the paper reranks 512).")
    keep: int = Field(4, ge=1, validate_default=True, description="Best candidates kept per prompt after reranking.")
    temperature: float = Field(1.0, gt=0, description="Sampling temperature.")
    top_k: int | None = Field(None, ge=1, description="Keep only the k most likely image tokens.")
    top_p: float | None = Field(None, gt=0, le=1, description="Nucleus sampling mass.")
    guidance: float = Field(
        0.0, ge=0, description="Classifier-free guidance scale (needs caption dropout in training)."
    )
    seed: int | None = Field(None, description="Sampling seed; default: the recipe's seed.")
    compile: bool = Field(
        False,
        description="torch.compile the prior's blocks for sampling (the decode steps too). If compilation fails, "
        "one warning says why and sampling runs eagerly.",
    )

    @field_validator("keep")
    @classmethod
    def _keep_at_most_candidates(cls, keep: int, info: ValidationInfo) -> int:
        candidates = info.data.get("candidates")
        if candidates is not None and keep > candidates:
            raise ValueError(f"keep {keep} is more than candidates {candidates}")
        return keep
