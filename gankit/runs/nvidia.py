"""Read NVIDIA's StyleGAN2-ADA / StyleGAN3 snapshots (`network-snapshot-*.pkl`) without running any of them.

A snapshot is a pickle of `dict(G, D, G_ema, augment_pipe, training_set_kwargs)`. Each network is
a record that NVIDIA's `torch_utils.persistence` writes: the source code of its module, its class
name, its init args/kwargs and its state (`__dict__`: parameters, buffers, child records, plain
attributes); tensors are pickled by torch as storages in `torch.save` bytes. Their own loader
imports that source, i.e. runs it. Here `read_snapshot` unpickles with an allow-list: a record
becomes a `Record` (the module source is kept as an opaque string and never compiled), tensors are
rebuilt by torch's own functions and storages are read with `torch.load(weights_only=True)`; any
other global (`os.system`, `builtins.eval`, an unknown class) stops the read with one line naming
it, before anything is called. gankit's networks are then built from the records'
architecture and loaded with their tensors (`gankit.runs.nvidia_convert`).
"""
from __future__ import annotations

import collections
import io
import pickle
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gankit.errors import GankitError

Tensor = torch.Tensor
PERSISTENCE = "torch_utils.persistence._reconstruct_persistent_obj"
# Globals that name another project's pickles: a hint for the one-line refusal.
FOREIGN = {"dnnlib.tflib": "a TensorFlow StyleGAN/StyleGAN2 pickle", "pg_modules": "a StyleGAN-XL / Projected GAN snapshot",
           "timm": "a StyleGAN-XL / Projected GAN snapshot (pretrained timm feature network)",
           "feature_networks": "a StyleGAN-XL / Projected GAN snapshot"}


class EasyDict(dict):
    """What `dnnlib.util.EasyDict` unpickles to: a plain dict (its attribute access is not needed)."""


@dataclass
class Record:
    """One persistence record as data: class name, init args/kwargs and state; `module_src` is never run."""

    class_name: str
    module_src: str = field(repr=False)
    version: Any
    state: dict

    @property
    def init_args(self) -> tuple:
        return tuple(self.state.get("_init_args", ()))

    @property
    def init_kwargs(self) -> dict:
        return dict(self.state.get("_init_kwargs", {}) or {})

    def attr(self, name: str, default: Any = None) -> Any:
        """A plain attribute of the original object (numpy scalars as Python numbers)."""
        value = self.state.get(name, default)
        return value.item() if isinstance(value, np.generic) else value

    @property
    def children(self) -> dict[str, "Record"]:
        return {k: v for k, v in (self.state.get("_modules") or {}).items() if v is not None}

    def child(self, name: str) -> "Record":
        """The child record `name`, or a GankitError saying what the record holds instead."""
        kids = self.children
        if name not in kids or not isinstance(kids[name], Record):
            raise GankitError(f"unsupported snapshot: {self.class_name} has no {name} part (it has {', '.join(kids) or 'none'})")
        return kids[name]

    def tensors(self, prefix: str = "") -> dict[str, Tensor]:
        """Every parameter and buffer below this record, by dotted name (NVIDIA's state_dict keys)."""
        out: dict[str, Tensor] = {}
        for group in ("_parameters", "_buffers"):
            for name, value in (self.state.get(group) or {}).items():
                if value is not None:
                    out[prefix + name] = value
        for name, child in self.children.items():
            if not isinstance(child, Record):
                raise GankitError(f"unsupported snapshot: part {prefix + name} is a {type(child).__name__}, not a network record")
            out.update(child.tensors(f"{prefix}{name}."))
        return out


def _record(meta: Any) -> Record:
    """What `_reconstruct_persistent_obj(meta)` rebuilds, as data only."""
    ok = (isinstance(meta, dict) and meta.get("type") == "class" and isinstance(meta.get("class_name"), str)
          and isinstance(meta.get("module_src"), str) and isinstance(meta.get("state"), dict))
    if not ok:
        raise GankitError("refused: a torch_utils.persistence record in this file is malformed")
    return Record(meta["class_name"], meta["module_src"], meta.get("version"), dict(meta["state"]))


def _storage(data: Any) -> Any:
    """A tensor storage from the `torch.save` bytes that torch pickles it as, read weights-only."""
    if not isinstance(data, (bytes, bytearray)):
        raise GankitError("refused: a tensor storage in this file is not stored as bytes")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # TypedStorage deprecation
            storage = torch.load(io.BytesIO(bytes(data)), map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001  (torch raises several kinds; all mean "not plain weights")
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise GankitError(f"refused: a tensor storage would need torch.load(weights_only=False) ({first})") from None
    if not isinstance(storage, (torch.TypedStorage, torch.UntypedStorage)):
        raise GankitError(f"refused: a tensor storage holds a {type(storage).__name__}, not a storage")
    return storage


def _tensor(storage: Any, offset: Any, size: Any, stride: Any, requires_grad: Any = False, hooks: Any = None,
            metadata: Any = None) -> Tensor:
    """torch's `_rebuild_tensor_v2`, with its arguments checked (hooks and metadata are dropped)."""
    if not isinstance(storage, torch.TypedStorage) or not isinstance(offset, int):
        raise GankitError("refused: a tensor in this file is not built from a plain storage")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return torch._utils._rebuild_tensor(storage, offset, tuple(size), tuple(stride)).clone()
    except (RuntimeError, TypeError, ValueError) as err:
        raise GankitError(f"refused: a tensor in this file does not fit its storage ({str(err).splitlines()[0]})") from None


def _parameter(data: Any, requires_grad: Any = False, hooks: Any = None, state: Any = None) -> Tensor:
    """torch's `_rebuild_parameter`: the plain tensor (gankit's own modules hold the parameters)."""
    if not isinstance(data, Tensor):
        raise GankitError("refused: a parameter in this file does not wrap a tensor")
    return data


_NP_RECONSTRUCT = np.zeros(1).__reduce__()[0]
_NP_SCALAR = np.float64(0).__reduce__()[0]
ALLOWED: dict[str, Any] = {
    PERSISTENCE: _record,
    "torch._utils._rebuild_tensor_v2": _tensor,
    "torch._utils._rebuild_parameter": _parameter,
    "torch._utils._rebuild_parameter_with_state": _parameter,
    "torch.storage._load_from_bytes": _storage,
    "collections.OrderedDict": collections.OrderedDict,
    "builtins.set": set,
    "dnnlib.util.EasyDict": EasyDict,
    "numpy.ndarray": np.ndarray,
    "numpy.dtype": np.dtype,
    "numpy.core.multiarray._reconstruct": _NP_RECONSTRUCT,
    "numpy._core.multiarray._reconstruct": _NP_RECONSTRUCT,
    "numpy.core.multiarray.scalar": _NP_SCALAR,
    "numpy._core.multiarray.scalar": _NP_SCALAR,
}


class _Unpickler(pickle.Unpickler):
    """Resolves only the globals of `ALLOWED`; anything else is refused by name before it is called."""

    def find_class(self, module: str, name: str) -> Any:
        full = f"{module}.{name}"
        if full in ALLOWED:
            return ALLOWED[full]
        for prefix, what in FOREIGN.items():
            if module == prefix or module.startswith(prefix + "."):
                raise GankitError(f"unsupported snapshot: {what} (it references {full}); gankit reads the "
                                  "PyTorch snapshots of stylegan2-ada-pytorch and stylegan3")
        raise GankitError(f"refused to load: the file references {full}, which is not part of a StyleGAN snapshot "
                          "(nothing was run)")

    def persistent_load(self, pid: Any) -> Any:
        raise GankitError("refused to load: the file uses pickle persistent ids (a torch.save archive, not a snapshot)")


def read_pickle(path: str | Path) -> Any:
    """Unpickle `path` with the allow-list; a refusal or a damaged file is one GankitError."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            return _Unpickler(f).load()
    except GankitError as err:
        raise GankitError(f"{path}: {err}") from None
    except OSError as err:
        raise GankitError(f"cannot read {path}: {err.strerror or err}") from None
    except Exception as err:  # noqa: BLE001  (a truncated or non-pickle file raises many kinds)
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise GankitError(f"{path} is not a readable StyleGAN snapshot ({type(err).__name__}: {first})") from None


def read_snapshot(path: str | Path) -> dict:
    """The snapshot dict with `G`, `D`, `G_ema` as `Record`s (and `training_set_kwargs` as plain data)."""
    data = read_pickle(path)
    if not isinstance(data, dict) or not any(isinstance(data.get(k), Record) for k in ("G", "D", "G_ema")):
        found = type(data).__name__ if not isinstance(data, dict) else "keys " + ", ".join(map(str, data)) or "an empty dict"
        raise GankitError(f"{path} is not a StyleGAN2-ADA/StyleGAN3 snapshot (it holds {found}; expected G, D, G_ema)")
    return data


def is_snapshot_path(path: str | Path) -> bool:
    """Whether `path` names a pickle file (which gankit reads as a foreign snapshot), not a run folder."""
    path = Path(path)
    return path.suffix.lower() in (".pkl", ".pickle") or path.is_file()
