"""What benchmarks 6 and 7 share: a real-size transformer built offline, its arithmetic, and
this machine's matrix-product rate.

The model is wav2vec2-base's architecture (the MERT-v1-95M size: 7 convolutions over the
waveform, 12 transformer blocks of width 768, 94.4M parameters) with random weights, built from
its config and saved with ``save_pretrained``: speed and memory do not depend on the weights.
"""

from __future__ import annotations

import time
from pathlib import Path


def build_wav2vec2_base(folder: Path) -> Path:
    """Write wav2vec2-base's architecture with random weights (seeded) to ``folder``."""
    import torch
    import transformers

    transformers.logging.set_verbosity_error()
    torch.manual_seed(0)
    config = transformers.Wav2Vec2Config()  # the defaults are wav2vec2-base
    model = transformers.Wav2Vec2Model(config)
    model.save_pretrained(folder)
    extractor = transformers.Wav2Vec2FeatureExtractor(sampling_rate=16000, do_normalize=True)
    extractor.save_pretrained(folder)
    return folder


def forward_flops(folder: Path, samples: int) -> float:
    """Floating-point operations of one forward pass over ``samples`` (one window).

    Counted from the config: every convolution and matrix product as 2 operations per
    multiply-add (feature encoder, feature projection, positional convolution, attention
    projections, the two attention products, feed-forward layers); normalisation, activations
    and softmax are left out (a few per cent), as a roofline for matrix products counts.
    """
    import transformers

    config = transformers.AutoConfig.from_pretrained(folder)
    flops, length, channels = 0.0, samples, 1
    for width, kernel, stride in zip(
        config.conv_dim, config.conv_kernel, config.conv_stride, strict=True
    ):
        length = (length - kernel) // stride + 1
        flops += 2 * length * width * channels * kernel
        channels = width
    frames, hidden = length, config.hidden_size
    flops += 2 * frames * channels * hidden  # feature projection
    groups, kernel = config.num_conv_pos_embedding_groups, config.num_conv_pos_embeddings
    flops += 2 * frames * hidden * (hidden // groups) * kernel  # positional convolution
    per_block = (
        4 * 2 * frames * hidden * hidden  # query, key, value and output projections
        + 2 * 2 * frames * frames * hidden  # scores and their weighted sum
        + 2 * 2 * frames * hidden * config.intermediate_size  # feed-forward
    )
    return flops + config.num_hidden_layers * per_block


def matmul_gflops(threads: int, *, size: int = 2048, repeats: int = 3) -> float:
    """This machine's float32 matrix-product rate at ``threads`` torch threads (best of
    ``repeats`` ``size``³ products), in GFLOP/s: the roofline the model is compared with."""
    import torch

    saved = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        a, b = torch.randn(size, size), torch.randn(size, size)
        torch.mm(a, b)
        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            torch.mm(a, b)
            best = min(best, time.perf_counter() - start)
    finally:
        torch.set_num_threads(saved)
    return 2 * size**3 / best / 1e9
