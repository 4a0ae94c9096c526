"""The saved RNG streams: every state round-trips through a weights-only file, the CUDA one included."""
import torch

from gankit.runs.rng import TrainingRNG


def _round_trip(state: dict, tmp_path) -> dict:
    torch.save(state, tmp_path / "state.pt")
    return torch.load(tmp_path / "state.pt", weights_only=True)


def test_streams_and_the_global_state_resume_exactly(tmp_path):
    rng = TrainingRNG(3)
    state = _round_trip(rng.state_dict(), tmp_path)
    expected = torch.randn(4, generator=rng.noise), torch.rand(2)
    rng.load_state_dict(state)
    assert torch.equal(torch.randn(4, generator=rng.noise), expected[0]) and torch.equal(torch.rand(2), expected[1])


def test_the_cuda_state_is_saved_and_restored(tmp_path, monkeypatch):
    """On a GPU (stood in for here) the current device's CUDA RNG state travels with the checkpoint."""
    cuda_state = torch.arange(16, dtype=torch.uint8)
    restored = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_rng_state", lambda device="cuda": cuda_state.clone())
    monkeypatch.setattr(torch.cuda, "set_rng_state", lambda state, device="cuda": restored.append(state))
    state = _round_trip(TrainingRNG(0).state_dict(), tmp_path)
    assert torch.equal(state["torch_cuda"], cuda_state)
    TrainingRNG(1).load_state_dict(state)
    assert len(restored) == 1 and torch.equal(restored[0], cuda_state)


def test_a_checkpoint_without_a_cuda_state_loads_on_a_gpu(monkeypatch):
    state = TrainingRNG(0).state_dict()  # written on a CPU
    assert "torch_cuda" not in state
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "set_rng_state", lambda *a, **k: (_ for _ in ()).throw(AssertionError("set")))
    TrainingRNG(1).load_state_dict(state)
