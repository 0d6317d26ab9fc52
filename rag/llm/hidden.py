"""The model's own reading of a prompt: the last prompt token's residual stream at chosen
layers, copied out of llama.cpp while it reads the prompt (no second prefill).

llama.cpp calls an eval callback (``llama_context_params.cb_eval``) for every node of the
compute graph, first asking whether the caller wants it (``ask``), then handing the computed
tensor. :class:`HiddenCapture` answers yes only for the wanted ``l_out-N`` tensors (and the
logits, ``result_output``), and only while armed, so the graph is split only there and only
while a prompt is read. The last row of each is the last token of the batch: after a prompt's
final decode, the last prompt token.
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

LOGITS = "result_output"
_LOGITS = LOGITS.encode()
_F32 = 0  # GGML_TYPE_F32


def layer_name(n: int) -> str:
    """llama.cpp's name of layer ``n``'s output (the residual stream after block ``n``)."""
    return f"l_out-{n}"


class _Tensor(ctypes.Structure):
    """``struct ggml_tensor`` as the ``ggml.h`` of llama-cpp-python 0.3.36 defines it."""

    _fields_ = [
        ("type", ctypes.c_int),
        ("buffer", ctypes.c_void_p),
        ("ne", ctypes.c_int64 * 4),
        ("nb", ctypes.c_size_t * 4),
        ("op", ctypes.c_int),
        ("op_params", ctypes.c_int32 * 16),
        ("flags", ctypes.c_int32),
        ("src", ctypes.c_void_p * 10),
        ("view_src", ctypes.c_void_p),
        ("view_offs", ctypes.c_size_t),
        ("data", ctypes.c_void_p),
        ("name", ctypes.c_char * 64),
        ("extra", ctypes.c_void_p),
        ("padding", ctypes.c_char * 8),
    ]


_NAME_OFFSET = _Tensor.name.offset


@dataclass
class Reading:
    """What the model held after reading a prompt: ``rows`` maps a tensor name
    (``l_out-N``, ``result_output``) to the last prompt token's row (float32)."""

    rows: dict[str, np.ndarray] = field(default_factory=dict)

    def layer(self, n: int) -> np.ndarray | None:
        """Layer ``n``'s output for the last prompt token, when it was captured."""
        row = self.rows.get(layer_name(n))
        return row[-1] if row is not None and row.ndim == 2 else row

    def block(self, n: int) -> np.ndarray | None:
        """Layer ``n``'s output for the last prompt tokens kept (``HiddenCapture.keep``
        rows, one per token, the last prompt token last), when it was captured."""
        row = self.rows.get(layer_name(n))
        return row if row is None or row.ndim == 2 else row[None, :]

    @property
    def logits(self) -> np.ndarray | None:
        """The next-token logits after the prompt, when captured."""
        return self.rows.get(LOGITS)


class HiddenCapture:
    """An eval callback for llama.cpp contexts that copies the wanted tensors' last row (the
    last ``keep`` rows of each layer) while :meth:`armed` (one prompt's reading), and asks for
    nothing otherwise."""

    def __init__(self, wanted: Iterable[str] = (), *, enabled: bool = True, keep: int = 1) -> None:
        """``enabled`` false: :meth:`attach` sets no callback (llama.cpp computes graphs
        whole) and nothing is ever captured (benchmarks compare the two). ``keep``: how many
        of the batch's last rows of each layer are copied (1, the last prompt token, is what
        the probe reads; a benchmark keeps more to compare read-out positions)."""
        from llama_cpp import llama_cpp as lc

        self.enabled = enabled
        self.keep = keep
        self._wanted: frozenset[bytes] = frozenset()
        self.want(wanted)
        self._armed = False
        self._every = False
        self._rows: dict[str, Any] = {}
        self._lock = threading.Lock()
        self.callback = lc.ggml_backend_sched_eval_callback(self._on_tensor)  # keep a reference

    def want(self, names: Iterable[str]) -> None:
        """Capture these tensors from now on (``layer_name(n)``, :data:`LOGITS`)."""
        self._wanted = frozenset(n.encode() for n in names)

    @property
    def wanted(self) -> frozenset[str]:
        """The tensor names captured."""
        return frozenset(n.decode() for n in self._wanted)

    def attach(self, params: Any) -> None:
        """Set this capture as the eval callback of ``params`` (``llama_context_params``)."""
        if not self.enabled:
            return
        params.cb_eval = self.callback
        params.cb_eval_user_data = None

    @contextmanager
    def armed(self, *, every_row: bool = False) -> Iterator[None]:
        """Capture during the decodes inside the block (the earlier reading is dropped).
        ``every_row``: every token's row of each wanted layer, across all the block's batches
        (a passage read sentence by sentence, ``rag.screen``), not the last ``keep``."""
        with self._lock:
            self._rows = {}
            self._every = every_row
            self._armed = self.enabled and bool(self._wanted)
        try:
            yield
        finally:
            self._armed = False
            self._every = False

    def reading(self) -> Reading | None:
        """The last armed block's reading, or ``None`` when it decoded nothing wanted."""
        return Reading(dict(self._rows)) if self._rows else None

    def restore(self, reading: Reading | None) -> None:
        """Make ``reading`` the last one again (a prompt already read, not decoded again)."""
        self._rows = dict(reading.rows) if reading is not None else {}

    def _on_tensor(self, t_ptr: int, ask: bool, _user: Any) -> bool:
        if not self._armed:
            return not ask  # ask: not wanted; otherwise: go on computing
        name = ctypes.string_at(t_ptr + _NAME_OFFSET)
        if name not in self._wanted:
            return not ask
        if ask:
            return True
        import numpy as np

        t = _Tensor.from_address(t_ptr)
        n0, n1 = int(t.ne[0]), int(t.ne[1])
        if t.type == _F32 and t.data and n1 > 0:
            contiguous = name != _LOGITS and t.nb[1] == 4 * n0
            k = (n1 if self._every else min(self.keep, n1)) if contiguous else 1
            rows = (ctypes.c_float * (n0 * k)).from_address(t.data + (n1 - k) * t.nb[1])
            block = np.frombuffer(rows, dtype=np.float32).reshape(k, n0).copy()
            key = name.decode()
            if self._every and contiguous:
                earlier = self._rows.get(key)
                self._rows[key] = block if earlier is None else np.concatenate([earlier, block])
            else:
                self._rows[key] = block[0] if k == 1 else block
        return True
