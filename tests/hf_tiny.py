"""Tiny random-weight transformers audio models saved to folders, for offline adapter tests.

Each builder writes ``save_pretrained`` output (weights, config, feature extractor) to a folder;
the sizes are the smallest each architecture accepts, so a forward pass takes milliseconds.
"""

from __future__ import annotations

from pathlib import Path

import torch

_TRANSFORMER = {
    "hidden_size": 16,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 32,
}
_CONV = {
    "conv_dim": (8, 8),
    "conv_stride": (5, 4),
    "conv_kernel": (10, 4),
    "num_conv_pos_embeddings": 8,
    "num_conv_pos_embedding_groups": 2,
    "vocab_size": 10,
}


def _save(folder: Path, model, extractor) -> Path:
    model.save_pretrained(folder)
    extractor.save_pretrained(folder)
    return folder


def wav2vec2(folder: Path) -> Path:
    """wav2vec2: 2 blocks of width 16, hop 20 samples at 16 kHz."""
    import transformers as t

    torch.manual_seed(0)
    config = t.Wav2Vec2Config(**_TRANSFORMER, **_CONV)
    extractor = t.Wav2Vec2FeatureExtractor(sampling_rate=16000, do_normalize=True)
    return _save(folder, t.Wav2Vec2Model(config), extractor)


def wav2vec2_local(folder: Path, *, blocks: int = 2) -> Path:
    """wav2vec2 whose layer ``"0"`` is purely convolutional: layer-normalised convolution
    features (no group norm over time) and no waveform normalisation, so each frame of layer 0
    sees a fixed span of samples (its receptive field: 25 samples of the feature encoder, then
    the positional convolution's ±4 frames of 20 samples). Blocks 1.. add attention."""
    import transformers as t

    torch.manual_seed(6)
    config = t.Wav2Vec2Config(
        **{**_TRANSFORMER, "num_hidden_layers": blocks}, **_CONV, feat_extract_norm="layer"
    )
    extractor = t.Wav2Vec2FeatureExtractor(sampling_rate=16000, do_normalize=False)
    return _save(folder, t.Wav2Vec2Model(config), extractor)


def hubert(folder: Path) -> Path:
    """HuBERT: 2 blocks of width 16."""
    import transformers as t

    torch.manual_seed(1)
    config = t.HubertConfig(**_TRANSFORMER, **_CONV)
    extractor = t.Wav2Vec2FeatureExtractor(sampling_rate=16000, do_normalize=False)
    return _save(folder, t.HubertModel(config), extractor)


def whisper(folder: Path) -> Path:
    """Whisper: 2 encoder blocks of width 16 over 80 mel bins."""
    import transformers as t

    torch.manual_seed(2)
    config = t.WhisperConfig(
        d_model=16,
        encoder_layers=2,
        decoder_layers=1,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=32,
        decoder_ffn_dim=32,
        num_mel_bins=80,
        vocab_size=100,
        max_target_positions=32,
        pad_token_id=1,
        bos_token_id=1,
        eos_token_id=2,
        decoder_start_token_id=1,
    )
    return _save(folder, t.WhisperModel(config), t.WhisperFeatureExtractor(feature_size=80))


def ast(folder: Path) -> Path:
    """AST: 2 blocks of width 16 over 32 mel bins and 100 frames (about 1 s)."""
    import transformers as t

    torch.manual_seed(3)
    config = t.ASTConfig(**_TRANSFORMER, max_length=100, num_mel_bins=32, patch_size=16)
    extractor = t.ASTFeatureExtractor(num_mel_bins=32, max_length=100)
    return _save(folder, t.ASTModel(config), extractor)


def clap(folder: Path) -> Path:
    """CLAP: a 2-stage audio Swin of width 16 and an 8-dim joint space, 1 s at 48 kHz."""
    import transformers as t

    torch.manual_seed(4)
    config = t.ClapConfig(
        text_config={
            "vocab_size": 100,
            "hidden_size": 16,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "intermediate_size": 32,
            "max_position_embeddings": 64,
        },
        audio_config={
            "spec_size": 64,
            "num_mel_bins": 16,
            "patch_size": 4,
            "patch_stride": (4, 4),
            "patch_embeds_hidden_size": 8,
            "hidden_size": 16,
            "depths": [1, 1],
            "num_attention_heads": [2, 2],
            "window_size": 4,
            "enable_fusion": False,
        },
        projection_dim=8,
    )
    extractor = t.ClapFeatureExtractor(feature_size=16, sampling_rate=48000, max_length_s=1)
    return _save(folder, t.ClapModel(config), extractor)


def encodec(folder: Path) -> Path:
    """EnCodec: a 16-dim latent every 16 samples at 24 kHz."""
    import transformers as t

    torch.manual_seed(5)
    config = t.EncodecConfig(
        hidden_size=16,
        num_filters=4,
        upsampling_ratios=[4, 4],
        codebook_size=16,
        codebook_dim=16,
        num_lstm_layers=1,
        sampling_rate=24000,
    )
    return _save(folder, t.EncodecModel(config), t.EncodecFeatureExtractor(sampling_rate=24000))


BUILDERS = {
    "wav2vec2": wav2vec2,
    "hubert": hubert,
    "whisper": whisper,
    "ast": ast,
    "clap": clap,
    "encodec": encodec,
}
