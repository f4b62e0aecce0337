"""A minimal HEAR-API module (band log-energies every 25 ms), as published models are packaged."""

from __future__ import annotations

import torch

SAMPLE_RATE = 16000
HOP = 400  # 25 ms
BANDS = 8


class BandEnergies(torch.nn.Module):
    """Log energy in ``BANDS`` linear frequency bands per 25 ms frame."""

    sample_rate = SAMPLE_RATE
    scene_embedding_size = BANDS
    timestamp_embedding_size = BANDS

    def __init__(self, scale: float = 1.0) -> None:
        super().__init__()
        self.scale = torch.nn.Parameter(torch.tensor(scale), requires_grad=False)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        window = torch.hann_window(2 * HOP, device=audio.device)
        spectrum = torch.stft(audio, 2 * HOP, HOP, window=window, return_complex=True).abs() ** 2
        bands = torch.stack([band.sum(dim=1) for band in spectrum.chunk(BANDS, dim=1)], dim=-1)
        return self.scale * torch.log(bands + 1e-8)


def load_model(model_file_path: str = "") -> BandEnergies:
    scale = float(open(model_file_path).read()) if model_file_path else 1.0
    return BandEnergies(scale)


def get_timestamp_embeddings(audio: torch.Tensor, model: BandEnergies):
    embeddings = model(audio)
    timestamps = torch.arange(embeddings.shape[1], dtype=torch.float32) * HOP / SAMPLE_RATE * 1000
    return embeddings, timestamps.expand(len(audio), -1)


def get_scene_embeddings(audio: torch.Tensor, model: BandEnergies) -> torch.Tensor:
    return model(audio).mean(dim=1)
