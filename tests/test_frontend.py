"""The log-mel frontend: matches an independent FFT reference, and chunking never changes it."""

import numpy as np
import pytest

from edge_asr.frontend import FrontendParams, LogMel, log_mel, mel_filterbank

PARAMS = FrontendParams()


def reference_log_mel(audio: np.ndarray, params: FrontendParams) -> np.ndarray:
    """Textbook log-mel with numpy's FFT: frames, Hann window, |rfft|^2, filterbank, log."""
    x = audio.astype(np.float64) / 32768.0
    win, hop = params.window_samples, params.hop_samples
    window = np.hanning(win + 2)[1:-1]
    n = 1 + (len(x) - win) // hop
    frames = np.stack([x[i * hop : i * hop + win] * window for i in range(n)])
    power = np.abs(np.fft.rfft(frames, params.n_fft)) ** 2
    return np.log(np.maximum(power @ mel_filterbank(params), params.log_floor))


@pytest.fixture(scope="module")
def speechlike() -> np.ndarray:
    rng = np.random.default_rng(7)
    t = np.arange(16000 * 2) / 16000
    tone = 6000 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 3 * t))
    return (tone + rng.normal(0, 300, t.shape)).astype(np.int16)


def test_matches_fft_reference(speechlike: np.ndarray) -> None:
    ours = log_mel(speechlike, PARAMS)
    ref = reference_log_mel(speechlike, PARAMS)
    assert ours.shape == ref.shape == (PARAMS.frames_in(len(speechlike)), PARAMS.n_mels)
    np.testing.assert_allclose(ours, ref, atol=2e-3)


def test_golden_values_of_a_pure_tone() -> None:
    # A 1 kHz full-scale-ish tone: energy lands in the filters around 1 kHz, not at the edges.
    t = np.arange(16000) / 16000
    tone = (16000 * np.sin(2 * np.pi * 1000 * t)).astype(np.int16)
    feats = log_mel(tone, PARAMS)
    peak = int(np.argmax(feats.mean(axis=0)))
    centres = np.linspace(0, 1, PARAMS.n_mels)  # just to name the band below
    assert 12 <= peak <= 16, f"1 kHz peak in mel band {peak} ({centres[peak]:.2f})"
    assert feats[:, peak].mean() > feats[:, 0].mean() + 10
    assert feats[:, peak].std() < 0.01  # stationary input, stationary features


@pytest.mark.parametrize("chunk", [1, 17, 160, 320, 1600, 4096, 32000])
def test_chunk_size_never_changes_features(speechlike: np.ndarray, chunk: int) -> None:
    whole = log_mel(speechlike, PARAMS)
    frontend = LogMel(PARAMS)
    rows = []
    for start in range(0, len(speechlike), chunk):
        for mel, _ in frontend.stream(speechlike[start : start + chunk]):
            rows.append(mel.copy())
    # float32 BLAS sums in a batch-size-dependent order: equal to ~1e-5 of a log value.
    np.testing.assert_allclose(np.concatenate(rows), whole, atol=1e-4)


@pytest.mark.parametrize("chunk", [17, 160, 320, 1600, 4096])
def test_skipped_audio_still_feeds_the_frames_after_it(speechlike: np.ndarray, chunk: int) -> None:
    # The recognizer skips the features of silent chunks; the frames that straddle the next
    # chunk it does compute must still see the skipped samples.
    whole = log_mel(speechlike, PARAMS)
    frontend = LogMel(PARAMS)
    rng = np.random.default_rng(chunk)
    rows: dict[int, np.ndarray] = {}
    done = 0  # frames completed so far
    for start in range(0, len(speechlike), chunk):
        part = speechlike[start : start + chunk]
        if rng.random() < 0.5:
            done += frontend.skip(part)
            continue
        for mel, _ in frontend.stream(part):
            for row in mel:
                rows[done] = row.copy()
                done += 1
    assert done == len(whole)
    assert len(rows) > len(whole) // 4
    computed = sorted(rows)
    np.testing.assert_allclose(np.stack([rows[i] for i in computed]), whole[computed], atol=1e-4)


def test_frame_energy_in_dbfs() -> None:
    full_scale_square = np.tile(np.array([32767, -32767], np.int16), 8000)
    frontend = LogMel(PARAMS)
    dbfs = np.concatenate([d.copy() for _, d in frontend.stream(full_scale_square)])
    np.testing.assert_allclose(dbfs, 0.0, atol=0.01)
    silence = np.concatenate([d.copy() for _, d in LogMel(PARAMS).stream(np.zeros(8000, np.int16))])
    assert (silence <= -99).all()


def test_params_round_trip_and_reject_unknown_keys() -> None:
    assert FrontendParams.from_dict(PARAMS.to_dict()) == PARAMS
    with pytest.raises(ValueError, match="'hop_size'"):
        FrontendParams.from_dict({"hop_size": 10})
