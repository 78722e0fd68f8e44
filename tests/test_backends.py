"""Integer tensors in and out of the runtimes: quantize and dequantize with the model's own
scale and zero point, over the whole int8 range."""

import numpy as np
import pytest

from edge_asr.backends import _Quantizer


@pytest.mark.parametrize("zero_point", [4, -35, 0, 127, -128])
def test_dequantize_is_exact_at_the_ends_of_the_int8_range(zero_point: int) -> None:
    """The shipped TFLite file's output has zero point 4: an int8 -128 is a logit of -11.7, and
    must not wrap around to +11 (which made the least likely label the most likely)."""
    scale = 0.088436
    q = _Quantizer(np.int8, scale, zero_point, (256,))
    raw = np.arange(-128, 128, dtype=np.int8)
    out = q.dequantize(raw, np.zeros(256, np.float32))
    expected = (raw.astype(np.float64) - zero_point) * scale
    np.testing.assert_allclose(out, expected, rtol=1e-6)
    assert np.all(np.diff(out) > 0)  # order kept: the largest int8 is the largest logit


def test_quantize_rounds_and_saturates() -> None:
    scale, zero_point = 0.091208, 23
    q = _Quantizer(np.int8, scale, zero_point, (6,))
    values = np.array([0.0, scale * 10.4, -scale * 10.6, 1e6, -1e6, scale * -151], np.float32)
    got = q.quantize(values).copy()
    assert got.tolist() == [23, 33, 12, 127, -128, -128]
    back = q.dequantize(got, np.zeros(6, np.float32))
    assert abs(back[1] - values[1]) <= scale / 2 + 1e-6
