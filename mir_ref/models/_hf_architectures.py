"""How each family of transformers audio model is fed and read out.

An :class:`Architecture` knows, from a model's config and feature extractor alone (no
weights), its sample rate, native frame hop, longest input and the layers it offers; given the
loaded model it turns a batch of equal-length chunks into frames for every layer. The adapter
in :mod:`mir_ref.models.hf` does the loading, chunking, batching and device handling.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch


@dataclass(frozen=True)
class Chunk:
    """One piece of a window longer than the model's input, and the frames it contributes.

    The model runs on samples ``[start, stop)``; of the frames it returns, ``count`` from
    ``first`` on are kept (all from ``first`` on when ``count`` is None: the last chunk).
    """

    start: int
    stop: int
    first: int
    count: int | None


class Architecture:
    """Raw-waveform transformers with hidden states: wav2vec2, HuBERT, WavLM, data2vec, MERT.

    Layer ``"0"`` is the input of the first transformer block (the projected CNN features),
    layer ``"n"`` the output of block ``n``.
    """

    def __init__(self, config: Any, feature_extractor: Any, *, max_chunk_s: float) -> None:
        self.config = config
        self.feature_extractor = feature_extractor
        self.max_chunk_s = max_chunk_s

    @property
    def sample_rate(self) -> int:
        return int(self.feature_extractor.sampling_rate)

    @property
    def frame_hop_s(self) -> float:
        strides = getattr(self.config, "conv_stride", None)
        hop = math.prod(strides) if strides else self.config.inputs_to_logits_ratio
        return hop / self.sample_rate

    @property
    def max_samples(self) -> int:
        """The longest chunk the model is run on, in samples."""
        return round(self.max_chunk_s * self.sample_rate)

    frames_follow_time = True
    """Whether output frame ``i`` starts ``i`` hops into the input, so that chunks with
    context can be cut on frame boundaries (not CLAP: one vector per chunk)."""

    @property
    def hop_samples(self) -> int:
        """Input samples per output frame; chunks start on multiples of it."""
        return max(1, round(self.frame_hop_s * self.sample_rate))

    def context_samples(self, context_s: float) -> int:
        """``context_s`` rounded up to whole frames, in samples."""
        hop = self.hop_samples
        return math.ceil(round(context_s * self.sample_rate) / hop) * hop

    def chunks(self, samples: int, *, context_s: float) -> list[Chunk]:
        """How a window of ``samples`` is run: one chunk when it fits the model's input.

        Longer windows are cut into nearly equal cores on frame boundaries, each run with up
        to ``context_s`` of the window's audio on both sides (every chunk, context included,
        fits :attr:`max_samples`); of each chunk's frames only its core's are kept, so with a
        context that covers the model's receptive field the frames are those of the whole
        window. Without context each chunk's frames are kept as they come.
        """
        if samples <= self.max_samples:
            return [Chunk(0, samples, 0, None)]
        hop = self.hop_samples
        context = self.context_samples(context_s)
        core_hops = (self.max_samples - 2 * context) // hop
        if core_hops < 1:
            raise ValueError(
                f"a context of {context} samples on both sides leaves no room in the model's "
                f"input of {self.max_samples} samples"
            )
        total_hops = math.ceil(samples / hop)
        pieces = math.ceil(total_hops / core_hops)
        bounds = [round(index * total_hops / pieces) * hop for index in range(pieces)] + [samples]
        chunks = []
        for index, (begin, end) in enumerate(zip(bounds, bounds[1:], strict=False)):
            start, stop = max(0, begin - context), min(samples, end + context)
            last = index == pieces - 1
            chunks.append(
                Chunk(start, stop, (begin - start) // hop, None if last else (end - begin) // hop)
            )
        return chunks

    def layer_sizes(self) -> dict[str, int]:
        """Every layer the model offers and its embedding size, in order."""
        size = int(self.config.hidden_size)
        return {str(index): size for index in range(self.config.num_hidden_layers + 1)}

    def runnable(self, model: torch.nn.Module) -> torch.nn.Module:
        """The part of the loaded model :meth:`forward` runs."""
        return model

    def count_parameters(self, module: torch.nn.Module) -> int:
        """Weights :meth:`forward` uses."""
        return sum(p.numel() for p in module.parameters())

    def inputs(self, chunks: np.ndarray) -> dict[str, Any]:
        return dict(
            self.feature_extractor(
                list(chunks), sampling_rate=self.sample_rate, return_tensors="pt"
            )
        )

    def forward(self, model: torch.nn.Module, inputs: dict[str, Any], samples: int) -> dict:
        """``{layer: [chunks, frames, dim]}`` for every layer, from one forward pass."""
        output = model(**inputs, output_hidden_states=True)
        return dict(zip(self.layer_sizes(), output.hidden_states, strict=True))


class Whisper(Architecture):
    """Whisper's encoder: log-mel input padded to 30 s; frames beyond the input are cropped."""

    @property
    def frame_hop_s(self) -> float:
        # The encoder's second convolution has stride 2 over the mel frames.
        return 2 * self.feature_extractor.hop_length / self.sample_rate

    @property
    def max_samples(self) -> int:
        return int(self.feature_extractor.n_samples)

    def layer_sizes(self) -> dict[str, int]:
        size = int(self.config.d_model)
        return {str(index): size for index in range(self.config.encoder_layers + 1)}

    def runnable(self, model: torch.nn.Module) -> torch.nn.Module:
        return model.get_encoder()

    def inputs(self, chunks: np.ndarray) -> dict[str, Any]:
        features = self.feature_extractor(
            list(chunks), sampling_rate=self.sample_rate, return_tensors="pt"
        )
        return {"input_features": features["input_features"]}

    def forward(self, model: torch.nn.Module, inputs: dict[str, Any], samples: int) -> dict:
        output = model(**inputs, output_hidden_states=True)
        mel_frames = 1 + samples // self.feature_extractor.hop_length
        frames = max(1, (mel_frames + 1) // 2)
        return {
            name: hidden[:, :frames]
            for name, hidden in zip(self.layer_sizes(), output.hidden_states, strict=True)
        }


class AudioSpectrogramTransformer(Architecture):
    """AST: patches of a log-mel (fbank) spectrogram padded to ``max_length`` frames.

    Patch tokens are averaged over frequency, giving one frame per patch column in time;
    columns that lie wholly in the padding are cropped. The two summary tokens are dropped.
    """

    # The fbank front end: 25 ms windows every 10 ms.
    _SHIFT_S = 0.010
    _WINDOW_S = 0.025

    @property
    def frame_hop_s(self) -> float:
        return self.config.time_stride * self._SHIFT_S

    @property
    def max_samples(self) -> int:
        shift = round(self._SHIFT_S * self.sample_rate)
        return (self.feature_extractor.max_length - 1) * shift + round(
            self._WINDOW_S * self.sample_rate
        )

    def _grid(self) -> tuple[int, int]:
        patch = self.config.patch_size
        frequency = (self.config.num_mel_bins - patch) // self.config.frequency_stride + 1
        time = (self.config.max_length - patch) // self.config.time_stride + 1
        return frequency, time

    def forward(self, model: torch.nn.Module, inputs: dict[str, Any], samples: int) -> dict:
        output = model(**inputs, output_hidden_states=True)
        frequency, time = self._grid()
        shift = round(self._SHIFT_S * self.sample_rate)
        window = round(self._WINDOW_S * self.sample_rate)
        real_frames = 1 + max(0, samples - window) // shift
        columns = min(time, max(1, math.ceil(real_frames / self.config.time_stride)))
        layers = {}
        for name, hidden in zip(self.layer_sizes(), output.hidden_states, strict=True):
            patches = hidden[:, -frequency * time :]
            grid = patches.reshape(hidden.shape[0], frequency, time, hidden.shape[-1])
            layers[name] = grid.mean(dim=1)[:, :columns]
        return layers


class Clap(Architecture):
    """CLAP's audio tower: one vector per chunk (up to ``max_length_s``, repeat-padded).

    Layers: ``pooled`` (the audio encoder's pooled output) and ``projection`` (the joint
    audio-text space that ``ClapModel.get_audio_features`` returns).
    """

    frames_follow_time = False

    @property
    def frame_hop_s(self) -> float:
        return float(self.feature_extractor.max_length_s)

    @property
    def max_samples(self) -> int:
        return int(self.feature_extractor.nb_max_samples)

    def layer_sizes(self) -> dict[str, int]:
        return {
            "pooled": int(self.config.audio_config.hidden_size),
            "projection": int(self.config.projection_dim),
        }

    def count_parameters(self, module: torch.nn.Module) -> int:
        towers = (module.audio_model, module.audio_projection)
        return sum(p.numel() for tower in towers for p in tower.parameters())

    def inputs(self, chunks: np.ndarray) -> dict[str, Any]:
        # Chunks never exceed the maximum, so truncation never happens; "fusion" is still the
        # mode that builds the four-channel input fused models expect.
        fused = bool(self.config.audio_config.enable_fusion)
        return dict(
            self.feature_extractor(
                list(chunks),
                sampling_rate=self.sample_rate,
                truncation="fusion" if fused else "rand_trunc",
                return_tensors="pt",
            )
        )

    def forward(self, model: torch.nn.Module, inputs: dict[str, Any], samples: int) -> dict:
        audio = model.audio_model(**inputs)
        pooled = audio.pooler_output
        projected = model.audio_projection(pooled)
        return {"pooled": pooled[:, None], "projection": projected[:, None]}


class Encodec(Architecture):
    """EnCodec's convolutional encoder: one layer, ``encoder``, the continuous latent frames.

    Its intermediate blocks have different widths, so only the final embedding is offered.
    """

    @property
    def frame_hop_s(self) -> float:
        return math.prod(self.config.upsampling_ratios) / self.sample_rate

    def layer_sizes(self) -> dict[str, int]:
        return {"encoder": int(self.config.hidden_size)}

    def runnable(self, model: torch.nn.Module) -> torch.nn.Module:
        return model.encoder

    def inputs(self, chunks: np.ndarray) -> dict[str, Any]:
        values = self.feature_extractor(
            raw_audio=list(chunks), sampling_rate=self.sample_rate, return_tensors="pt"
        )["input_values"]
        return {"hidden_states": values}

    def forward(self, model: torch.nn.Module, inputs: dict[str, Any], samples: int) -> dict:
        return {"encoder": model(inputs["hidden_states"]).transpose(1, 2)}


_BY_MODEL_TYPE = {
    "whisper": Whisper,
    "audio-spectrogram-transformer": AudioSpectrogramTransformer,
    "clap": Clap,
    "encodec": Encodec,
}


def architecture_for(config: Any, feature_extractor: Any, *, max_chunk_s: float) -> Architecture:
    """The :class:`Architecture` that handles ``config.model_type``."""
    cls = _BY_MODEL_TYPE.get(getattr(config, "model_type", ""), Architecture)
    return cls(config, feature_extractor, max_chunk_s=max_chunk_s)
