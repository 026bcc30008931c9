"""Fused CPU gate kernels for the ``custom`` backend, compiled on first use and cached.

``csrc/recurrences.c`` holds one C function per recurrence step and direction (LSTM and GRU, float32 and
float64). It is plain C with no torch headers, so building it takes a C compiler and well under a
second; the shared library is cached under ``$SEQMODELS_CACHE_DIR`` (default
``~/.cache/seqmodels/native``), keyed by the source, the compiler, the flags and the CPU's instruction
sets (it is built with ``-march=native``), and written atomically so parallel processes (DDP) can race
for it safely. Calls go through :mod:`ctypes` with raw pointers: one call per step, where each of the
5-8 ATen ops it replaces costs a dispatch and streams the step's tiles through memory (the measured
gains: ``docs/PERFORMANCE.md``).

Nothing requires it: without a compiler, with ``SEQMODELS_NATIVE=0`` or off CPU, :func:`kernels`
returns ``None`` and the cells' ``aten_forward`` / ``aten_backward`` run the same equations as ATen ops. The
float32 build uses ``-ffast-math`` (vectorised ``tanhf`` from glibc's libmvec, a few ulp); it is
compiled with it but linked without, so loading it leaves the process's floating-point modes alone.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import torch

SOURCE = Path(__file__).with_name("csrc") / "recurrences.c"  # includes recurrences_impl.h and cross_entropy_impl.h
COMPILE_FLAGS = ["-O3", "-march=native", "-ffast-math", "-fPIC", "-std=c11"]
if platform.machine().lower() in ("x86_64", "amd64"):
    COMPILE_FLAGS.append("-mprefer-vector-width=512")  # AVX-512 where the CPU has it: twice AVX2's lanes
LINK_LIBS = ["-lmvec", "-lm"]  # libmvec: glibc's vector tanhf
ENV_SWITCH = "SEQMODELS_NATIVE"

_SIGNATURES = {
    # name: argument types after (B, H); p = pointer, l = long
    "lstm_fwd": "ppplppp",
    "lstm_bwd": "ppplpplpp",
    "gru_fwd": "pppplplpp",
    "gru_bwd": "ppplppppp",
    "lstm_fwd_masked": "ppppppppp",
    "lstm_bwd_masked": "ppppppppp",
    "gru_fwd_masked": "pppplppppp",
    "gru_bwd_masked": "ppppppppp",
    "lstm_fwd_loop": "lppppppppp",
    "lstm_bwd_loop": "lpppppppllpppp",
    "lstm_fwd_masked_loop": "lppppppppp",
    "lstm_bwd_masked_loop": "lpppppplpppppp",
    "gru_fwd_loop": "lppppppppp",
    "gru_bwd_loop": "lppppppplppppp",
    "gru_fwd_masked_loop": "lpppppppppp",
    "gru_bwd_masked_loop": "lpppppplpppppp",
    "rnn_fwd_loop": "lppppl",
    "rnn_bwd_loop": "lpppplpppl",
    "gemm_check": "lpppp",
}
LOOPS_SWITCH = "SEQMODELS_NATIVE_LOOPS"
BLAS_LIBRARIES = ("libtorch_cpu.so", "libtorch_cpu.dylib")  # beside torch/__init__.py, in lib/
BLAS_GEMM = {"f32": "sgemm_", "f64": "dgemm_"}
BLAS_PACKED = {"f32": ("SGEMM_PACK_GET_SIZE", "SGEMM_PACK", "SGEMM_COMPUTE")}  # MKL's packed GEMM, where exported


def enabled() -> bool:
    """False when ``SEQMODELS_NATIVE`` is ``0``/``false``/``off``."""
    return os.environ.get(ENV_SWITCH, "1").strip().lower() not in {"0", "false", "off", "no"}


def loops_enabled() -> bool:
    """False when ``SEQMODELS_NATIVE_LOOPS`` is ``0``/``false``/``off``: the per-step Python loops then run."""
    return os.environ.get(LOOPS_SWITCH, "1").strip().lower() not in {"0", "false", "off", "no"}


def cache_dir() -> Path:
    if "SEQMODELS_CACHE_DIR" in os.environ:
        return Path(os.environ["SEQMODELS_CACHE_DIR"]) / "native"
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "seqmodels" / "native"


def _cpu_features() -> str:
    """The CPU's instruction-set flags (the build is -march=native, so a cache shared between machines
    must not hand one CPU's library to another)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                return line
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _compiler() -> str:
    return os.environ.get("CC", "cc")


def _build_key(source: bytes) -> str:
    try:
        version = subprocess.run([_compiler(), "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        version = ""
    flags = " ".join(COMPILE_FLAGS + LINK_LIBS + ["-fopenmp"])
    parts = [source, version.encode(), flags.encode(), _cpu_features().encode(), platform.machine().encode()]
    return hashlib.sha256(b"\0".join(parts)).hexdigest()[:16]


def build(directory: Path | None = None) -> Path:
    """Compile ``csrc/recurrences.c`` into a shared library (cached); returns its path.

    Raises ``RuntimeError`` with the compiler's message when the build fails.
    """
    source = b"".join(path.read_bytes() for path in [SOURCE, *sorted(SOURCE.parent.glob("*.h"))])
    target_dir = (directory or cache_dir()) / _build_key(source)
    library = target_dir / "recurrences.so"
    if library.exists():
        return library
    target_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target_dir) as tmp:
        obj, tmp_lib = Path(tmp) / "recurrences.o", Path(tmp) / "recurrences.so"
        errors = []
        # without OpenMP (e.g. clang without libomp) it runs on one thread; without libmvec (not glibc) the
        # compiler emits no calls into it
        for openmp, libs in ((["-fopenmp"], LINK_LIBS), ([], LINK_LIBS), ([], ["-lm"])):
            try:
                _run([_compiler(), *COMPILE_FLAGS, *openmp, "-c", str(SOURCE), "-o", str(obj)])
                # linked without -ffast-math: gcc would add crtfastmath.o, which sets flush-to-zero for the
                # whole process when the library loads
                _run([_compiler(), "-shared", *openmp, str(obj), "-o", str(tmp_lib), *libs])
                ctypes.CDLL(str(tmp_lib))  # undefined symbols only show when it loads
                break
            except (RuntimeError, OSError) as err:
                errors.append(str(err))
        else:
            raise RuntimeError("\n".join(errors))
        os.replace(tmp_lib, library)  # atomic: a concurrent build of the same key is harmless
    return library


def _run(cmd: list[str]) -> None:
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.SubprocessError) as err:
        raise RuntimeError(f"cannot run the C compiler {cmd[0]!r}: {err}") from err
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stderr.strip()}")


class Kernels:
    """The compiled functions for one dtype: ``lstm_fwd``, ``lstm_bwd``, ``gru_fwd``, ``gru_bwd`` and their
    ``*_masked`` forms for batches of unequal lengths (arguments as in ``csrc/recurrences.c``: sizes, then raw
    pointers and row strides in elements), whole time loops ``*_loop``, the softmax cross-entropy
    ``xent_fwd`` (``csrc/cross_entropy_impl.h``; :mod:`.cross_entropy`) and the hashed dropout
    ``dropout_apply`` (``csrc/dropout_impl.h``; :mod:`.dropout`).

    ``blas`` is the address of the table of BLAS functions those loops call, or ``None`` (then the ``c_loop_*``
    drivers of :mod:`.lstm` and :mod:`.gru` call the step kernels from Python); see :func:`_blas_table`.
    """

    def __init__(self, library: ctypes.CDLL, suffix: str):
        kinds = {"p": ctypes.c_void_p, "l": ctypes.c_long}
        for name, signature in _SIGNATURES.items():
            fn = getattr(library, f"{name}_{suffix}")
            fn.argtypes = [ctypes.c_long, ctypes.c_long] + [kinds[k] for k in signature]
            fn.restype = None
            setattr(self, name, fn)
        # xent_fwd(N, V, logits, ld, targets, ignore_index, grad, loss) -> -1, or the first bad target's row
        self.xent_fwd = getattr(library, f"xent_fwd_{suffix}")
        self.xent_fwd.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_long, ctypes.c_void_p]
        self.xent_fwd.argtypes += [ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
        self.xent_fwd.restype = ctypes.c_long
        # dropout_apply(n, x, out, key0, key1, threshold, scale)
        self.dropout_apply = getattr(library, f"dropout_apply_{suffix}")
        self.dropout_apply.argtypes = [ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_long, ctypes.c_long]
        self.dropout_apply.argtypes += [ctypes.c_long, ctypes.c_float if suffix == "f32" else ctypes.c_double]
        self.dropout_apply.restype = None
        self._blas = _blas_table(self, suffix)

    if TYPE_CHECKING:  # the functions of _SIGNATURES, set in __init__

        def __getattr__(self, name: str) -> Callable[..., None]: ...

    @property
    def blas(self) -> int | None:
        return ctypes.addressof(self._blas) if self._blas is not None and loops_enabled() else None

    @property
    def packed_gemm(self) -> bool:
        """Whether the loops pack their recurrent weight with MKL's packed-GEMM API."""
        return self._blas is not None and self._blas[1] is not None


def _blas_table(kernels: Kernels, suffix: str) -> ctypes.Array | None:
    """The BLAS functions torch itself runs on (MKL or OpenBLAS inside ``libtorch_cpu``) for the C time
    loops: ``[?gemm_, ?GEMM_PACK_GET_SIZE, ?GEMM_PACK, ?GEMM_COMPUTE]``, the last three ``None`` where MKL's
    packed API is not exported (float64: not exported by torch). Each form is used only once a small
    product through it matched ``torch.mm``; ``None`` when torch exports no ``?gemm_`` or the check fails.

    Calling them from C lets a whole time loop run without returning to Python: the same BLAS, with the
    same threads, as ``torch.mm``, without Python and ATen dispatch between steps (what that saves:
    ``docs/PERFORMANCE.md``).
    """
    if sys.byteorder != "little":  # gemm_rows passes sizes that LP64 and ILP64 BLAS read alike only there
        return None
    lib_dir = Path(torch.__file__).parent / "lib"
    for name in BLAS_LIBRARIES:
        if not (lib_dir / name).exists():
            continue
        try:
            library = ctypes.CDLL(str(lib_dir / name))
            gemm = ctypes.cast(getattr(library, BLAS_GEMM[suffix]), ctypes.c_void_p).value
        except (OSError, AttributeError):
            continue
        try:
            packed = [ctypes.cast(getattr(library, f), ctypes.c_void_p).value for f in BLAS_PACKED.get(suffix, ())]
        except AttributeError:
            packed = []
        for entries in ([gemm, *packed], [gemm]) if packed else ([gemm],):
            table = (ctypes.c_void_p * 4)(*entries)
            if _products_match(kernels, table, torch.float32 if suffix == "f32" else torch.float64):
                return table
    return None


def _products_match(kernels: Kernels, table: ctypes.Array, dtype: torch.dtype) -> bool:
    rows = 40  # the loops pack the weight from 32 rows on (PACK_MIN_ROWS in recurrences.c): check that form
    a = torch.arange(rows * 5, dtype=dtype).reshape(rows, 5) / 70 - 1
    b = torch.arange(20, dtype=dtype).reshape(5, 4) / 3 - 2
    c = torch.full((rows, 4), float("nan"), dtype=dtype)
    kernels.gemm_check(rows, 4, 5, ctypes.addressof(table), a.data_ptr(), b.data_ptr(), c.data_ptr())
    with torch.autocast("cpu", enabled=False):  # the first load may happen under mixed precision
        expected = a @ b
    return torch.allclose(c, expected, rtol=1e-5, atol=1e-5)


@lru_cache(maxsize=1)
def _load() -> dict[torch.dtype, Kernels] | None:
    try:
        library = ctypes.CDLL(str(build()))
    except (RuntimeError, OSError) as err:
        warnings.warn(
            f"seqmodels: fused CPU kernels unavailable, using ATen ops instead ({err}). "
            f"Set {ENV_SWITCH}=0 to silence this.",
            RuntimeWarning,
            stacklevel=3,
        )
        return None
    return {torch.float32: Kernels(library, "f32"), torch.float64: Kernels(library, "f64")}


def under_transform(*tensors: torch.Tensor) -> bool:
    """Whether forward-mode AD or a ``torch.func`` transform (``grad``, ``vmap``, ``jacrev``) is at work on
    these tensors: raw pointers and autograd Functions without ``setup_context``/``jvp`` do not carry them, so
    the callers run torch's own ops then."""
    if getattr(torch.autograd.forward_ad, "_current_level", -1) >= 0:
        return True
    wrapped = getattr(getattr(torch._C, "_functorch", None), "is_functorch_wrapped_tensor", None)
    return wrapped is not None and any(wrapped(t) for t in tensors)


def kernels(*tensors: torch.Tensor) -> Kernels | None:
    """The fused kernels for these tensors' dtype, or ``None`` when they do not apply (not CPU, not
    float32/float64, under torch.compile/torch.export, switched off, or no compiler)."""
    first = tensors[0]
    if not enabled() or first.device.type != "cpu" or first.dtype not in (torch.float32, torch.float64):
        return None
    if torch.compiler.is_compiling():  # torch.compile / torch.export trace the ATen-op path (no raw pointers)
        return None
    if any(t.device.type != "cpu" or t.dtype != first.dtype for t in tensors[1:]):
        return None
    loaded = _load()
    return None if loaded is None else loaded[first.dtype]
