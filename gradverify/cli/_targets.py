"""The user's side of the ``gradverify`` command: ``--shape``, ``MODULE:FUNC``, ``--input``.

Turns the command line into the function under test, its derivative (:class:`Target`)
and the point to check it at (:func:`point`); every mistake is a :class:`CommandError`.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import math
import os
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ._errors import CommandError, _first_line

# -- reading the command line ---------------------------------------------------------------

#: The most entries a drawn --shape may have: beyond this the point alone needs
#: 8 GB in float64, and the check calls f about twice per entry.
MAX_ENTRIES = 10**9


def seed_arg(text: str) -> int:
    """``--seed``: an integer >= 0 (argparse turns the error into a usage line)."""
    try:
        seed = int(text)
    except ValueError:
        seed = -1
    if seed < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a seed: give an integer >= 0")
    return seed


def finite_arg(text: str) -> float:
    """A finite number (``--h-max``, ``--step-size``): ``inf`` and ``nan`` are usage errors."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


_SHAPE = re.compile(r"^(?:(?P<name>[A-Za-z_]\w*)=)?(?P<dims>\d+(?:,\d+)*)$")


def parse_shapes(specs: Sequence[str]) -> tuple[int, ...] | dict[str, tuple[int, ...]]:
    """``["3,4"]`` -> ``(3, 4)``; ``["W=3,4", "b=4"]`` -> ``{"W": (3, 4), "b": (4,)}``."""
    named: dict[str, tuple[int, ...]] = {}
    plain: list[tuple[int, ...]] = []
    for spec in specs:
        match = _SHAPE.match(spec.replace(" ", ""))
        dims = tuple(int(d) for d in match["dims"].split(",")) if match else ()
        if not match or 0 in dims:
            raise CommandError(
                f"--shape {spec!r} is not a shape: write positive integers separated by commas, "
                "like --shape 3,4 (or NAME=3,4, once per named parameter)"
            )
        if math.prod(dims) > MAX_ENTRIES:
            raise CommandError(
                f"--shape {spec!r} has {math.prod(dims):.3g} entries; gradverify draws at most {MAX_ENTRIES:.0e} "
                "(give the shape of the parameters, like --shape 3,4)"
            )
        if match["name"] is None:
            plain.append(dims)
        elif match["name"] in named:
            raise CommandError(f"--shape names the parameter {match['name']!r} twice")
        else:
            named[match["name"]] = dims
    if plain and (named or len(plain) > 1):
        raise CommandError("give one --shape 3,4 for a single array, or NAME=3,4 for each named parameter")
    return plain[0] if plain else named


def _import_module(spec: str, cache: dict[str, Any]) -> Any:
    if spec in cache:
        return cache[spec]
    if spec.endswith(".py") or "/" in spec or os.sep in spec:
        path = Path(spec)
        if not path.is_file():
            raise CommandError(f"cannot import {spec!r}: no such file")
        # Siblings of the file import as they would when running it as a script.
        sys.path.insert(0, str(path.resolve().parent))
        name = path.stem if path.stem not in sys.modules else f"_gradverify_user_{len(cache)}_{path.stem}"
        module_spec = importlib.util.spec_from_file_location(name, path)
        if module_spec is None or module_spec.loader is None:
            raise CommandError(f"cannot import {spec!r}: not a Python source file")
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[name] = module
        try:
            module_spec.loader.exec_module(module)
        except (Exception, SystemExit) as exc:  # a module that exits on import is not loadable
            del sys.modules[name]
            raise CommandError(f"importing {spec!r} failed: {type(exc).__name__}: {_first_line(exc)}") from exc
    else:
        # Like `python -m`: modules in the current directory are importable.
        if os.getcwd() not in sys.path and "" not in sys.path:
            sys.path.insert(0, os.getcwd())
        try:
            module = importlib.import_module(spec)
        except ModuleNotFoundError as exc:
            if exc.name is not None and (spec == exc.name or spec.startswith(exc.name + ".")):
                raise CommandError(
                    f"cannot import module {spec!r}: not found in the current directory or on sys.path "
                    "(give a path such as model.py to load a file)"
                ) from exc
            raise CommandError(f"importing {spec!r} failed: {type(exc).__name__}: {_first_line(exc)}") from exc
        except (Exception, SystemExit) as exc:
            raise CommandError(f"importing {spec!r} failed: {type(exc).__name__}: {_first_line(exc)}") from exc
    cache[spec] = module
    return module


def load_callable(
    spec: str, *, option: str, default_module: str | None = None, cache: dict[str, Any]
) -> Callable[..., Any]:
    """The function named by ``MODULE:NAME`` (or ``NAME`` in ``default_module``)."""
    module_spec, sep, name = spec.rpartition(":")
    if not sep:
        module_spec, name = (default_module or ""), spec
    if not module_spec or not name.isidentifier():
        raise CommandError(f"{option} {spec!r} is not MODULE:FUNCTION (for example model.py:loss or mypkg.losses:loss)")
    module = _import_module(module_spec, cache)
    try:
        obj: Callable[..., Any] = getattr(module, name)
    except AttributeError:
        raise CommandError(f"{option}: module {module_spec!r} has no function {name!r}") from None
    if not callable(obj):
        raise CommandError(f"{option}: {module_spec}:{name} is a {type(obj).__name__}, not a function")
    return obj


def load_input(path: str) -> Any:
    """An array from ``.npy``, or a dict of arrays from ``.npz``; pickles are refused, NaN too."""
    import numpy as np

    what = f"--input {path}"
    if not Path(path).is_file():
        raise CommandError(f"{what}: no such file")
    kind = _file_kind(path)
    if kind == "pickle":
        raise CommandError(
            f"{what} holds pickled Python objects, which gradverify does not load (allow_pickle=False): "
            "save a numeric array with numpy.save"
        )
    if kind is None:
        raise CommandError(
            f"{what} is not a .npy or .npz file (it does not start with numpy's header): "
            "save the array with numpy.save or numpy.savez"
        )
    if kind == "npy":
        _check_npy_header(path, what)
    try:
        loaded = np.load(path, allow_pickle=False)
        if isinstance(loaded, np.lib.npyio.NpzFile):
            with loaded:
                loaded = {key: np.asarray(loaded[key]) for key in loaded.files}
    except ValueError as exc:
        if "pickle" in str(exc):
            raise CommandError(
                f"{what} holds pickled Python objects, which gradverify does not load (allow_pickle=False): "
                "save a numeric array with numpy.save"
            ) from None
        raise CommandError(f"{what} is not a .npy or .npz file numpy can read: {_first_line(exc)}") from None
    except (OSError, EOFError) as exc:
        raise CommandError(f"{what} is not a .npy or .npz file numpy can read: {_first_line(exc)}") from None
    except MemoryError:
        raise CommandError(f"{what} is too large to load into memory") from None
    leaves = loaded.items() if isinstance(loaded, dict) else [(None, loaded)]
    for name, leaf in leaves:
        label = what if name is None else f"{what} (array {name!r})"
        if leaf.dtype.kind not in "fiub":
            raise CommandError(f"{label} holds an array of dtype {leaf.dtype}; gradverify needs real numbers")
        bad = np.flatnonzero(~np.isfinite(leaf))
        if bad.size:
            index = np.unravel_index(int(bad[0]), leaf.shape) if leaf.ndim else ()
            raise CommandError(
                f"{label} holds {leaf[index]} at index {tuple(int(i) for i in index)}: the point must be finite"
            )
    return loaded


def _file_kind(path: str) -> str | None:
    """``"npy"``, ``"npz"`` or ``"pickle"`` from the file's first bytes; None for anything else (text)."""
    with open(path, "rb") as handle:
        head = handle.read(6)
    if head.startswith(b"\x93NUMPY"):
        return "npy"
    if head.startswith(b"PK"):
        return "npz"
    if head[:1] == b"\x80":  # the protocol opcode that starts every binary pickle
        return "pickle"
    return None


def _check_npy_header(path: str, what: str) -> None:
    """Refuse a ``.npy`` whose header claims more data than the file holds (before numpy allocates it)."""
    import numpy as np

    try:
        with open(path, "rb") as handle:
            version = np.lib.format.read_magic(handle)
            if version == (1, 0):
                shape, _, dtype = np.lib.format.read_array_header_1_0(handle)
            elif version == (2, 0):
                shape, _, dtype = np.lib.format.read_array_header_2_0(handle)
            else:
                return  # a newer format: np.load reads it, a MemoryError is caught there
            offset = handle.tell()
    except (ValueError, OSError, EOFError) as exc:
        raise CommandError(f"{what} is not a .npy file numpy can read: {_first_line(exc)}") from None
    if dtype.hasobject:
        return  # np.load refuses it below, as a pickle
    entries = math.prod(shape)
    claimed = entries * dtype.itemsize
    held = Path(path).stat().st_size - offset
    if claimed > held:
        raise CommandError(
            f"{what}: its header claims {entries:.3g} entries of {dtype} ({claimed:.3g} bytes) "
            f"but the file holds {held} bytes of data: the file is truncated or damaged"
        )


def draw_input(shapes: Any, *, seed: int, dtype: str) -> Any:
    """A standard-normal point of the given shape(s), from ``np.random.default_rng(seed)``."""
    import numpy as np

    rng = np.random.default_rng(seed)
    if isinstance(shapes, dict):
        return {name: np.asarray(rng.standard_normal(shape), dtype=dtype) for name, shape in shapes.items()}
    return np.asarray(rng.standard_normal(shapes), dtype=dtype)


# -- the user's functions -------------------------------------------------------------------


class Target:
    """The function under test and its derivative, as the subcommands use them."""

    def __init__(self, args: argparse.Namespace, *, need_derivative: bool) -> None:
        cache: dict[str, Any] = {}
        self.spec = args.target
        func = load_callable(args.target, option="FUNC", cache=cache)
        default_module = args.target.rpartition(":")[0] or None
        self.kind = "gradient"
        self.derivative: Callable[..., Any] | None = None
        self.derivative_spec: str | None = None
        if getattr(args, "vjp", None):
            self.kind = "vjp"
            self.derivative_spec = _qualified(args.vjp, default_module)
            self.derivative = load_callable(args.vjp, option="--vjp", default_module=default_module, cache=cache)
            self.f = func
        elif getattr(args, "returns_grad", False):
            self.derivative_spec = f"the gradient {args.target} returns"
            self.f, self.derivative = _split_pair(func, args.target)
        elif getattr(args, "grad", None):
            self.derivative_spec = _qualified(args.grad, default_module)
            self.derivative = load_callable(args.grad, option="--grad", default_module=default_module, cache=cache)
            self.f = func
        elif need_derivative:
            raise CommandError("say which derivative to check: --grad MODULE:GRAD, --vjp MODULE:VJP or --returns-grad")
        else:
            self.f = func


def _qualified(spec: str, default_module: str | None) -> str:
    return spec if ":" in spec or not default_module else f"{default_module}:{spec}"


def _split_pair(func: Callable[..., Any], spec: str) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """``f`` and ``grad`` from a function returning ``(loss, grad)``."""

    def pair(x: Any) -> tuple[Any, Any]:
        out = func(x)
        if not isinstance(out, (tuple, list)) or len(out) != 2:
            raise CommandError(f"--returns-grad: {spec} returned {type(out).__name__}, not a (loss, grad) pair")
        return out[0], out[1]

    return (lambda x: pair(x)[0]), (lambda x: pair(x)[1])


def point(args: argparse.Namespace) -> Any:
    """The input point from ``--input`` or ``--shape``."""
    if args.input and args.shape:
        raise CommandError("give --shape or --input, not both")
    if args.input:
        return load_input(args.input)
    if not args.shape:
        raise CommandError("give the input: --shape 3,4 (drawn from --seed) or --input FILE.npy")
    return draw_input(parse_shapes(args.shape), seed=args.seed, dtype=args.dtype)
