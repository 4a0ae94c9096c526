import math

import numpy as np
import pytest
import scipy.signal
import torch
from torch.nn import functional as F

from gankit.nn.filters import blur_kernel, filtered_lrelu, lowpass_filter, upfirdn2d, upfirdn2d_reference


@pytest.mark.parametrize("numtaps,cutoff,width,fs", [(12, 2.0, 4.0, 16.0), (12, 8.0, 6.6, 64.0), (6, 16.0, 7.4, 64.0)])
def test_kaiser_lowpass_matches_scipy_firwin_and_is_symmetric_and_normalised(numtaps, cutoff, width, fs):
    f = lowpass_filter(numtaps, cutoff, width, fs)
    expected = scipy.signal.firwin(numtaps=numtaps, cutoff=cutoff, width=width, fs=fs)
    assert np.allclose(f.numpy(), expected, atol=1e-6)
    assert torch.allclose(f, f.flip(0))
    assert abs(f.sum().item() - 1) < 1e-6


def test_one_tap_means_no_filter():
    assert lowpass_filter(1, 2.0, 1.0, 8.0) is None


def test_radial_filter_matches_the_jinc_formula_and_is_symmetric_and_normalised():
    numtaps, cutoff, width, fs = 12, 4.0, 3.0, 32.0
    f = lowpass_filter(numtaps, cutoff, width, fs, radial=True).double().numpy()
    x = (np.arange(numtaps) - (numtaps - 1) / 2) / fs
    r = np.hypot(*np.meshgrid(x, x))
    beta = scipy.signal.kaiser_beta(scipy.signal.kaiser_atten(numtaps, width / (fs / 2)))
    w = np.kaiser(numtaps, beta)
    expected = scipy.special.j1(2 * math.pi * cutoff * r) / (math.pi * r) * np.outer(w, w)
    assert np.allclose(f, expected / expected.sum(), atol=1e-6)
    assert np.allclose(f, f.T) and np.allclose(f, f[::-1, ::-1])
    assert abs(f.sum() - 1) < 1e-6


def _gain_at(f: torch.Tensor, freq: float, fs: float) -> float:
    """|H(freq)| of a 1-D FIR filter."""
    k = np.arange(len(f))
    return abs(np.sum(f.double().numpy() * np.exp(-2j * math.pi * freq / fs * k)))


def test_frequency_response_passes_the_pass_band_and_attenuates_the_stop_band():
    fs, cutoff, half_width, numtaps = 64.0, 8.0, 4.0, 24
    f = lowpass_filter(numtaps, cutoff, 2 * half_width, fs)
    attenuation_db = scipy.signal.kaiser_atten(numtaps, 2 * half_width / (fs / 2))
    assert _gain_at(f, 0, fs) == pytest.approx(1, abs=1e-6)
    assert _gain_at(f, cutoff, fs) == pytest.approx(0.5, abs=0.02)  # firwin's cutoff is the -6 dB point
    ripple = 10 ** (-attenuation_db / 20)  # Kaiser's design: the same ripple δ in both bands
    pass_band = np.linspace(0, cutoff - half_width, 30)
    assert max(abs(1 - _gain_at(f, freq, fs)) for freq in pass_band) < 2 * ripple
    stop_band = np.linspace(cutoff + half_width, fs / 2, 60)  # from the stopband f_t = f_c + f_h up
    assert max(_gain_at(f, freq, fs) for freq in stop_band) < 2 * ripple  # within 6 dB of the design


def test_filtering_a_sine_keeps_pass_band_and_removes_stop_band():
    fs, n = 64.0, 512
    f = lowpass_filter(24, 8.0, 8.0, fs)
    t = torch.arange(n, dtype=torch.float64) / fs
    for freq, expect_kept in ((3.0, True), (20.0, False)):
        sine = torch.sin(2 * math.pi * freq * t).float()
        img = sine.view(1, 1, 1, n).expand(1, 1, 24, n).contiguous()  # constant along y
        out = upfirdn2d(img, f, padding=(11, 12, 11, 12))[0, 0, 12, 30:-30]
        rms = out.square().mean().sqrt().item()
        if expect_kept:
            assert rms == pytest.approx(1 / math.sqrt(2), rel=0.02)
        else:
            assert rms < 0.01


@pytest.mark.parametrize("up,down,padding,radial", [
    (1, 1, (2, 1, 0, 3), False), (2, 1, (5, 6, 5, 6), False), (1, 2, (1, 2, 3, 0), False),
    (2, 2, (3, -2, -1, 4), False), (1, 2, (0, 0, 0, 0), True), (4, 1, (1, 1, 1, 1), True),
])
def test_upfirdn2d_agrees_with_the_direct_reference(up, down, padding, radial):
    torch.manual_seed(0)
    x = torch.randn(2, 3, 7, 9)
    f = torch.randn(5, 5) if radial else torch.randn(6)
    fast = upfirdn2d(x, f, up=up, down=down, padding=padding, gain=up ** 2)
    slow = upfirdn2d_reference(x, f, up=up, down=down, padding=padding, gain=up ** 2)
    assert fast.shape == slow.shape
    assert torch.allclose(fast, slow, atol=1e-4)


def test_upfirdn2d_without_a_filter_is_pad_and_subsample():
    x = torch.randn(1, 2, 6, 6)
    assert torch.equal(upfirdn2d(x, None, down=2), x[:, :, ::2, ::2])
    assert upfirdn2d(x, None, up=2).shape == (1, 2, 12, 12)


@pytest.mark.parametrize("radial", [True, False])  # the fused op with a 2-D (radial) or a separable down filter
def test_filtered_lrelu_matches_the_composition_of_reference_ops(radial):
    torch.manual_seed(1)
    x, bias = torch.randn(2, 3, 8, 8) * 3, torch.randn(3)
    f_up, f_down = lowpass_filter(12, 4.0, 4.0, 32.0), lowpass_filter(12, 4.0, 4.0, 32.0, radial=radial)
    out = filtered_lrelu(x, f_up, f_down, bias, up=2, down=2, padding=(6, 5, 6, 5), clamp=2.0)
    y = upfirdn2d_reference(x + bias.view(1, -1, 1, 1), f_up, up=2, padding=(6, 5, 6, 5), gain=4)
    y = (torch.where(y >= 0, y, 0.2 * y) * math.sqrt(2)).clamp(-2, 2)
    y = upfirdn2d_reference(y, f_down, down=2)
    assert out.shape == y.shape
    assert torch.allclose(out, y, atol=1e-4)


@pytest.mark.parametrize("up, down, clamp, radial", [(2, 2, 2.0, False), (4, 2, None, False), (1, 1, 0.5, False),
                                                     (2, 2, 2.0, True), (4, 2, None, True)])
def test_the_fused_filtered_lrelu_has_the_gradients_of_the_composed_ops(up, down, clamp, radial):
    """Its hand-written backward (slopes kept as bytes; the down filter separable or 2-D, config R's
    radial one) equals autograd through upfirdn2d, in float64."""
    torch.manual_seed(2)
    x = (torch.randn(2, 3, 7, 9, dtype=torch.float64) * 2).requires_grad_()
    bias = torch.randn(3, dtype=torch.float64, requires_grad=True)
    f_up = lowpass_filter(8, 3.0, 2.0, 16.0).double()
    f_down = lowpass_filter(8, 3.0, 2.0, 16.0, radial=radial).double()
    assert f_down.ndim == (2 if radial else 1)
    pad = (4, 3, 5, 2)
    weight = torch.randn_like(filtered_lrelu(x, f_up, f_down, bias, up=up, down=down, padding=pad, clamp=clamp))

    def composed():
        y = upfirdn2d(x + bias.view(1, -1, 1, 1), f_up, up=up, padding=pad, gain=up ** 2)
        y = (F.leaky_relu(y, 0.2) * math.sqrt(2))
        return upfirdn2d(y if clamp is None else y.clamp(-clamp, clamp), f_down, down=down)

    grads = []
    for fn in (lambda: filtered_lrelu(x, f_up, f_down, bias, up=up, down=down, padding=pad, clamp=clamp), composed):
        out = fn()
        grads.append((out.detach(), *torch.autograd.grad((out * weight).sum(), (x, bias))))
    for ours, ref in zip(*grads):
        assert torch.allclose(ours, ref, rtol=1e-10, atol=1e-10)


def test_upsampling_a_band_limited_signal_interpolates_it_at_pixel_centres():
    fs, freq, taps = 16.0, 1.5, 24  # a low frequency sampled at 16, upsampled ×2 with a low-pass at 4
    f = lowpass_filter(taps, 4.0, 4.0, 2 * fs)
    n = 48
    centres = (torch.arange(n, dtype=torch.float64) + 0.5) / fs
    img = torch.sin(2 * math.pi * freq * centres).float().view(1, 1, 1, n).expand(1, 1, taps, n).contiguous()
    pad = taps - 1  # SG3's padding for out = 2·in: p_lo = ⌊(p + up)/2⌋ (the symmetric interpretation, App. C.3)
    lo = (pad + 2) // 2
    out = upfirdn2d(img, f, up=2, padding=(lo, pad - lo, lo, pad - lo), gain=4)  # [.., 2·taps, 2n]
    fine_centres = (torch.arange(2 * n, dtype=torch.float64) + 0.5) / (2 * fs)
    expected = torch.sin(2 * math.pi * freq * fine_centres).float()
    assert out.shape[-1] == 2 * n
    assert torch.allclose(out[0, 0, taps, 16:-16], expected[16:-16], atol=0.005)


def test_blur_kernel():
    k = blur_kernel(2.0)
    assert len(k) == 13 and abs(k.sum().item() - 1) < 1e-6 and torch.allclose(k, k.flip(0))
    assert k[6 + 2] / k[6] == pytest.approx(0.5)  # 2^(-(k/σ)²) at k = σ
    assert blur_kernel(0.0) is None and blur_kernel(0.2) is None
