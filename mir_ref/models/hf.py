"""The ``huggingface`` adapter: any audio model transformers loads, every layer at once.

``model_id`` is a hub id (``facebook/wav2vec2-base``) or a local folder written by
``save_pretrained``. The model's own feature extractor (from the same place) sets the sample
rate and normalisation. Config and feature extractor are read when the model is configured
(small files, so a bad id fails before any audio is touched); weights are loaded on the first
:meth:`~HuggingFace.embed`, in whichever process runs it.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np

from mir_ref.digests import folder_checksum
from mir_ref.errors import ConfigError
from mir_ref.models.base import EmbeddingModel, LazyRuntime
from mir_ref.registry import OMIT_DEFAULT, register

log = logging.getLogger(__name__)


CPU_BATCH_AUDIO_S = 8.0
"""Seconds of audio per forward pass on CPU with ``batch_size: auto``: batching shorter
windows up to it pays (0.5-s windows ran ~1.6× faster in batches of 16 than alone), batching
longer ones does not (3-s windows: no difference), and activation memory grows with it."""
GPU_BATCH_SIZE = 8
"""Windows per forward pass on a GPU with ``batch_size: auto``."""


WEIGHT_FILES = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)
"""The names under which ``save_pretrained`` writes weights (whole, or an index of shards)."""


def _is_local(model_id: str) -> bool:
    """Whether ``model_id`` names a folder rather than a hub repository."""
    return model_id.startswith(("/", ".", "~")) or os.path.isdir(model_id)


def _transformers() -> Any:
    # Imported on first use: it takes seconds, and most runs use no pretrained network.
    import transformers

    transformers.logging.set_verbosity_error()
    return transformers


@register("models", "huggingface")
@dataclass
class HuggingFace(LazyRuntime, EmbeddingModel):
    """Any audio model transformers loads (wav2vec2, HuBERT, WavLM, Whisper, AST, CLAP, ...).

    Parameters
    ----------
    model_id : hub id or local folder (written by ``save_pretrained``, with the feature
        extractor's ``preprocessor_config.json`` beside the weights).
    layers : ``all``, ``last`` or a list of layer indices / names. Transformer models name
        their hidden states ``"0"`` (the input of the first block) to ``"n"``; CLAP offers
        ``pooled`` and ``projection``, EnCodec ``encoder``. ``all`` means every layer of the
        final layer's size. All requested layers come from one forward pass.
    trust_remote_code : run the model repository's own Python code (MERT needs it). Off by
        default: turn it on only for repositories you trust.
    batch_size : windows (or chunks of long windows) per forward pass; ``auto``: 8 on a GPU,
        and on CPU as many windows as add up to :data:`CPU_BATCH_AUDIO_S` (at least one):
        there, longer forward passes run no faster (benchmark 6) and memory grows with them.
    device : ``auto`` (CUDA when available), ``cpu`` or ``cuda``.
    revision : the hub revision to load (a commit hash, branch or tag); default the
        repository's ``main``. The commit actually loaded is recorded in the run's
        ``provenance.json`` either way; a local folder has no revision (its content hash is
        recorded instead).
    dtype : weights and activations. ``bfloat16`` and ``float16`` change the embeddings
        (by ~1e-2 relative for bfloat16, measured in benchmark 6) and run faster only where
        the hardware computes in them (GPUs; CPUs with AVX-512 BF16 or AMX).
    max_chunk_s : longest input fed to raw-waveform models, in seconds, context included;
        longer windows are cut into chunks whose frames are concatenated. Models with a fixed
        input length (Whisper 30 s, AST ~10 s, CLAP 10 s) use their own.
    chunk_context_s : audio run on both sides of each chunk of a long window, whose frames are
        dropped, so that a chunk's frames see past its edges: with a context that covers the
        model's receptive field (convolutional models), chunked frames equal the whole
        window's; attention still sees only the chunk.
    """

    model_id: str = ""
    layers: str | list[int | str] = "all"
    trust_remote_code: bool = False
    batch_size: int | Literal["auto"] = "auto"
    device: Literal["auto", "cpu", "cuda"] = "auto"
    dtype: Literal["float32", "float16", "bfloat16"] = "float32"
    max_chunk_s: float = 30.0
    chunk_context_s: float = 0.0
    revision: str | None = field(default=None, metadata=OMIT_DEFAULT)

    # 2: dtype applies on CPU too; long windows cut on frame boundaries (chunk_context_s).
    version: ClassVar[str] = "2"
    # Benchmark 6 on 2 shared cores: two single-threaded processes ran the 95M-parameter
    # transformer ~6× faster than one process of two threads (whose every operation waits for
    # its slowest thread when other programs hold a core). Re-measure on quiet cores.
    parallelism: ClassVar[Literal["processes", "threads"]] = "processes"

    def __post_init__(self) -> None:
        if not self.model_id:
            raise ValueError(
                "model_id: required (a hub id such as facebook/wav2vec2-base, or a folder "
                "written by save_pretrained)"
            )
        if self.batch_size != "auto" and self.batch_size <= 0:
            raise ValueError(f"batch_size: {self.batch_size!r} must be positive or 'auto'")
        if self.max_chunk_s <= 0:
            raise ValueError(f"max_chunk_s: {self.max_chunk_s!r} must be positive")
        if self.chunk_context_s < 0:
            raise ValueError(f"chunk_context_s: {self.chunk_context_s!r} must be 0 or more")
        if self.revision is not None and (not self.revision or _is_local(self.model_id)):
            raise ValueError(
                f"revision: {self.revision!r} "
                + (
                    "must name a commit, branch or tag"
                    if not self.revision
                    else "pins a hub model; a local folder has none (its content hash is "
                    "recorded in provenance.json instead)"
                )
            )
        self.layers = self._resolve_layers(self.layers)
        self._check_context()

    # -- configuration ---------------------------------------------------------------------

    def _load_kwargs(self) -> dict[str, Any]:
        kwargs = {
            "trust_remote_code": self.trust_remote_code,
            "local_files_only": _is_local(self.model_id),
        }
        return kwargs if self.revision is None else {**kwargs, "revision": self.revision}

    def _pretrained(self, loader: Any, **kwargs: Any) -> Any:
        """``loader.from_pretrained(model_id)`` with errors that name the model and the fix."""
        path = os.path.expanduser(self.model_id)
        if _is_local(self.model_id):
            if not os.path.isdir(path):
                raise ConfigError(
                    f"model '{self.model_id}': the folder does not exist (model_id is a local "
                    "path because it starts with '/', '.' or '~')"
                )
            self._check_remote_code(Path(path))
        try:
            return loader.from_pretrained(path, **self._load_kwargs(), **kwargs)
        except ValueError as error:
            if "trust_remote_code" in str(error):
                raise self._remote_code_error() from None
            raise ConfigError(f"model '{self.model_id}' could not be loaded: {error}") from None
        except OSError as error:
            if _is_local(self.model_id):
                raise ConfigError(
                    f"model '{self.model_id}': the folder is not a complete transformers model "
                    f"({error})"
                ) from None
            reason = str(error).strip().splitlines()[0] if str(error).strip() else "no detail"
            raise ConfigError(
                f"model '{self.model_id}' could not be loaded from the local Hugging Face cache "
                "or the hub: it needs the internet once (it is cached afterwards), or a local "
                f"path (model_id: /path/to/folder written by save_pretrained). ({reason})"
            ) from None

    def _check_remote_code(self, folder: Path) -> None:
        # transformers would otherwise stop and ask on the terminal.
        config = folder / "config.json"
        if self.trust_remote_code or not config.is_file():
            return
        if "auto_map" in json.loads(config.read_text()):
            raise self._remote_code_error()

    def _remote_code_error(self) -> ConfigError:
        preset = getattr(self, "preset_model_id", None)
        scope = (
            f" (the preset trusts only its own repository, {preset})"
            if preset and preset != self.model_id
            else ""
        )
        return ConfigError(
            f"model '{self.model_id}' runs its own Python code from the model repository{scope}; "
            "set `trust_remote_code: true` for this model if you trust its source"
        )

    @property
    def _architecture(self) -> Any:
        if "architecture" not in self._runtime:
            # Deferred: loads torch, which many runs never need.
            from mir_ref.models._hf_architectures import architecture_for

            transformers = _transformers()
            config = self._pretrained(transformers.AutoConfig)
            extractor = self._pretrained(transformers.AutoFeatureExtractor)
            self._runtime["architecture"] = architecture_for(
                config, extractor, max_chunk_s=self.max_chunk_s
            )
        return self._runtime["architecture"]

    def _check_context(self) -> None:
        if not self.chunk_context_s:
            return
        architecture = self._architecture
        if not architecture.frames_follow_time:
            raise ValueError(
                f"chunk_context_s: model '{self.model_id}' returns one vector per "
                "chunk, so a context has no frames to drop; leave it at 0"
            )
        context = architecture.context_samples(self.chunk_context_s)
        if 2 * context + architecture.hop_samples > architecture.max_samples:
            longest = (architecture.max_samples - architecture.hop_samples) / 2
            raise ValueError(
                f"chunk_context_s: {self.chunk_context_s:g} s on both "
                f"sides leaves no room in a chunk of {architecture.max_samples} samples "
                f"(max_chunk_s or the model's own input); at most "
                f"{longest / architecture.sample_rate:g} s"
            )

    def _resolve_layers(self, requested: str | list[int | str]) -> list[str]:
        sizes = self._architecture.layer_sizes()
        names = list(sizes)
        if requested == "last":
            return names[-1:]
        if requested == "all":
            return [name for name in names if sizes[name] == sizes[names[-1]]]
        if isinstance(requested, str) or not requested:
            raise ValueError(
                f"layers: {requested!r} must be 'all', 'last' or a non-empty list of layers "
                f"from {names}"
            )
        resolved = []
        for layer in requested:
            name = str(layer)
            if isinstance(layer, int) and layer < 0:
                name = names[layer] if -len(names) <= layer else name
            if name not in sizes:
                raise ValueError(f"layers: layer {layer!r} does not exist; layers: {names}")
            resolved.append(name)
        if len({sizes[name] for name in resolved}) > 1:
            raise ValueError(
                f"layers: {resolved} differ in size "
                f"({ {name: sizes[name] for name in resolved} }); put layers of different "
                "sizes in separate model entries"
            )
        return list(dict.fromkeys(resolved))

    def availability_problems(self) -> list[str]:
        """A local folder without weights (its config and feature extractor were read when
        the model was built). A hub model's weights are fetched on first use, so there is
        nothing to check without the network."""
        if not _is_local(self.model_id):
            return []
        folder = Path(os.path.expanduser(self.model_id))
        if any((folder / name).is_file() for name in WEIGHT_FILES):
            return []
        return [
            f"model '{self.model_id}': the folder has no weights (none of "
            f"{', '.join(WEIGHT_FILES)}); write it with save_pretrained"
        ]

    def provenance(self) -> dict[str, Any]:
        """The hub commit loaded (and the revision asked for), or a local folder's SHA-256."""
        if _is_local(self.model_id):
            return {"folder_sha256": folder_checksum(Path(os.path.expanduser(self.model_id)))}
        utils = _transformers().utils
        # The hub cache keeps each file under snapshots/<commit>/: the commit loaded.
        config_file = utils.cached_file(self.model_id, "config.json", revision=self.revision)
        commit = utils.hub.extract_commit_hash(config_file, None)
        return {"revision": commit, "requested_revision": self.revision}

    # -- the EmbeddingModel interface --------------------------------------------------------

    @property
    def sample_rate(self) -> int:
        """The sample rate of the model's feature extractor, in Hz."""
        return self._architecture.sample_rate

    @property
    def frame_hop_s(self) -> float:
        """Seconds between the model's output frames."""
        return self._architecture.frame_hop_s

    def layer_sizes(self) -> dict[str, int]:
        """Embedding size of each configured layer."""
        sizes = self._architecture.layer_sizes()
        return {name: sizes[name] for name in self.layers}

    @property
    def device_name(self) -> str:
        """The device the weights run on: ``cuda`` or ``cpu``."""
        if self.device != "auto":
            return self.device
        # Deferred: loads torch, which many runs never need.
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"

    def parameter_count(self) -> int:
        """Weights of the part that runs (Whisper's encoder, CLAP's audio tower + projection).

        Counted on PyTorch's ``meta`` device when the weights are not loaded in this process,
        so nothing is downloaded or allocated.
        """
        # Deferred: loads torch, which many runs never need.
        import torch

        if "model" in self._runtime:
            module = self._runtime["model"][0]
        else:
            config = self._architecture.config
            with torch.device("meta"):
                model = _transformers().AutoModel.from_config(
                    config, trust_remote_code=self.trust_remote_code
                )
            module = self._architecture.runnable(model)
        return self._architecture.count_parameters(module)

    def _model(self) -> tuple[Any, Any, Any]:
        """The runnable module, its device and dtype, loaded on first use."""
        if "model" not in self._runtime:
            # Deferred: loads torch, which many runs never need.
            import torch

            device = self.device_name
            if device == "cuda" and not torch.cuda.is_available():
                raise ConfigError(f"model '{self.model_id}': device 'cuda' but no GPU is visible")
            dtype = getattr(torch, self.dtype)
            model = self._pretrained(_transformers().AutoModel)
            module = self._architecture.runnable(model).to(device=device, dtype=dtype).eval()
            # Weights on CPU are mapped from the safetensors file and would be read in during
            # the first forward pass, after its activation peak in the convolutional front
            # end: a run's peak memory would then depend on how many windows it embeds.
            # Reading them now (clean file pages, shared between worker processes) makes it
            # the same from the first window on (benchmark 7).
            with torch.inference_mode():
                for tensor in (*module.parameters(), *module.buffers()):
                    tensor.sum()
            self._runtime["model"] = (module, torch.device(device), dtype)
        return self._runtime["model"]

    def windows_per_batch(self, window_samples: int) -> int:
        """``batch_size``; ``auto``: 8 on a GPU, windows adding up to
        :data:`CPU_BATCH_AUDIO_S` on CPU (at least one)."""
        if self.batch_size != "auto":
            return self.batch_size
        if self.device_name == "cuda":
            return GPU_BATCH_SIZE
        return max(1, int(CPU_BATCH_AUDIO_S * self.sample_rate // max(1, window_samples)))

    def embed(self, batch: np.ndarray) -> np.ndarray:
        """Embed a batch of equal-length waveforms with every configured layer.

        Parameters
        ----------
        batch : ``[batch, samples]`` float32 at :attr:`sample_rate`.

        Returns
        -------
        ``[layers, batch, frames, dim]`` float32. Windows longer than the model's input are
        run in chunks (with ``chunk_context_s`` of context) whose frames are concatenated.
        """
        frames = list(self._chunk_frames(self._checked(batch)))
        return frames[0] if len(frames) == 1 else np.concatenate(frames, axis=2)

    def embed_mean(self, batch: np.ndarray) -> np.ndarray:
        """``[layers, batch, dim]``: :meth:`embed`'s frames averaged, a chunk at a time.

        A window longer than the model's input never has all its frames in memory at once:
        each chunk's frames are summed (in float64) as soon as the chunk has run.
        """
        batch = self._checked(batch)
        if len(self._architecture.chunks(batch.shape[1], context_s=self.chunk_context_s)) == 1:
            return super().embed_mean(batch)
        total, count = 0.0, 0
        for frames in self._chunk_frames(batch):
            total = total + frames.sum(axis=2, dtype=np.float64)
            count += frames.shape[2]
        return (total / count).astype(np.float32)

    def _checked(self, batch: np.ndarray) -> np.ndarray:
        batch = np.asarray(batch, dtype=np.float32)
        if batch.ndim != 2:
            raise ValueError(f"batch: expected [batch, samples], got shape {batch.shape}")
        return batch

    def _chunk_frames(self, batch: np.ndarray) -> Iterator[np.ndarray]:
        """Each chunk's kept frames, ``[layers, batch, frames, dim]``, one chunk at a time."""
        for chunk in self._architecture.chunks(batch.shape[1], context_s=self.chunk_context_s):
            frames = self._embed_equal(batch[:, chunk.start : chunk.stop])
            stop = frames.shape[2] if chunk.count is None else chunk.first + chunk.count
            yield frames[:, :, chunk.first : stop]

    def _embed_equal(self, chunks: np.ndarray) -> np.ndarray:
        """``[n, samples]`` → ``[layers, n, frames, dim]``, ``batch_size`` rows at a time.

        On a GPU out-of-memory error the batch is halved (for the rest of this process) and
        retried, down to one row.
        """
        # Deferred: loads torch, which many runs never need.
        import torch

        module, device, dtype = self._model()
        outputs = []
        start = 0
        batch_size = self._runtime.get("batch_size") or self.windows_per_batch(chunks.shape[1])
        with torch.inference_mode():
            while start < len(chunks):
                rows = chunks[start : start + batch_size]
                try:
                    outputs.append(self._forward(module, device, dtype, rows))
                except torch.cuda.OutOfMemoryError:
                    if batch_size == 1:
                        raise
                    torch.cuda.empty_cache()
                    batch_size = self._runtime["batch_size"] = batch_size // 2
                    log.warning(
                        "model '%s': out of GPU memory; batch_size %d", self.model_id, batch_size
                    )
                    continue
                start += len(rows)
        return np.concatenate(outputs, axis=1).astype(np.float32)

    def _forward(self, module: Any, device: Any, dtype: Any, rows: np.ndarray) -> np.ndarray:
        """One forward pass: ``[rows, samples]`` → ``[layers, rows, frames, dim]``."""
        architecture = self._architecture
        inputs = {
            key: value.to(device=device, dtype=dtype)
            if value.is_floating_point()
            else value.to(device)
            for key, value in architecture.inputs(rows).items()
        }
        layers = architecture.forward(module, inputs, rows.shape[1])
        return np.stack([layers[name].float().cpu().numpy() for name in self.layers])
