"""Parameters as users keep them: dicts, lists, tuples and nestings of arrays, as one flat vector.

Backends and checks work on one flat float vector.  Users keep parameters in a dict
``{"W1": W1, "b1": b1, ...}``, a list of layers, a tuple ``(x, w, b)`` of a layer's input
and weights, or any nesting of those, with leaves that are numpy arrays, Python or numpy
scalars, or arrays of any library implementing the Python array API (torch, jax, cupy,
array-api-strict).  :func:`flatten` turns such a structure into a flat numpy vector and a
:class:`Structure` that remembers the tree, each leaf's shape, dtype, array library and
device, and turns any flat vector (a perturbed point, a gradient) back into the same kind
of structure with :meth:`Structure.unflatten`.

Conventions
-----------
- **Leaves** are taken in order: a dict's insertion order, a list's or tuple's index
  order, depth first.  Each numpy leaf becomes a view of the flat vector on the way back
  (no copy); an array-API leaf is rebuilt in its own library, dtype and device.
- **Integer and boolean arrays** (word ids, labels, masks; numpy or array-API) are not
  leaves but constants: ``f`` gets them as they are, they are not differentiated, and a
  gradient holds ``None`` there (as torch's does).  Python numbers remain leaves.
  Python integers become float64 (they are differentiated, not truncated).  All floating
  leaves must share one precision (float64 or float32): the flat vector has that precision.
- **Block names** follow the path of a leaf: a top-level key ``W2``, then ``.key`` for a
  nested key that is an identifier (``layers[0].W``), ``[k]`` for an index or any other key
  (``x['conv 1']``, ``x[1]`` for a top-level list).  A top-level *tuple* holds a function's
  positional arguments (as in torch's ``gradcheck(fn, (x, w, b))``): the function is called
  as ``f(*x)`` and its blocks carry the function's own parameter names (``x, w, b``).
- A list or tuple of plain numbers (``[1.0, 2.0]``) is an array, as before; it is a
  structure when it holds an array or a dict somewhere.
- A bare array-API array (``gradlab.gradient(f, torch.tensor([...]))``) is a structure of
  one leaf named ``x``: ``f`` gets the same kind of array back, on the same device.
- ``f`` never sees the caller's arrays.  A numpy leaf is a read-only view of the point, so
  numpy refuses a write into it; libraries that have no read-only arrays (torch,
  array-api-strict) get a fresh writable copy each call (torch would warn on a read-only
  one), compared with the point after the call, so a write is refused all the same.
- float16 leaves (numpy's, torch's float16 and bfloat16) are refused, as a float16 array
  ``x`` is: three significant digits leave a difference quotient nothing but rounding.

Examples
--------
>>> import numpy as np, gradlab
>>> params = {"W": np.ones((2, 3)), "b": np.zeros(2), "layers": [{"s": 0.5}]}
>>> flat, structure = gradlab.flatten(params)
>>> flat.shape, structure.names
((9,), ('W', 'b', 'layers[0].s'))
>>> back = structure.unflatten(2 * flat)
>>> back["W"].shape, back["layers"][0]["s"]
((2, 3), 1.0)
"""

from __future__ import annotations

import inspect
import math
import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

import array_api_compat
import numpy as np

from . import _validate as v
from ._arrays import is_array_api as _is_array_api
from ._arrays import to_numpy
from .objective import Block, Counted, FunctionWroteIntoItsArgument, Objective

# -- leaves: numpy, scalars, any array-API array --------------------------------------------------


def _namespace(value: object):
    """The array-API namespace of ``value`` (array-api-compat's wrapper where the library has none)."""
    if hasattr(value, "__array_namespace__"):
        return value.__array_namespace__()
    return array_api_compat.array_namespace(value)


def _leaf_array(where: str, node: object) -> np.ndarray:
    """A leaf's values as numpy, or an error naming the leaf's path when it has none."""
    try:
        return to_numpy(node)
    except ValueError as exc:  # numpy: "setting an array element with a sequence ... inhomogeneous"
        if "inhomogeneous" not in str(exc):
            raise
        raise TypeError(
            f"`{where}` must be a real numeric array (rows of one length, not a ragged list); got {v.show(node)}"
        ) from None
    except BufferError as exc:  # an array-API array that cannot be brought to the host
        raise TypeError(f"`{where}` must be an array numpy can read (DLPack); got {v.show(node)}: {exc}") from None


@dataclass(frozen=True)
class Leaf:
    """One leaf of a structure: where it sits in the flat vector and how to rebuild it."""

    name: str  # block name, e.g. "layers[0].W"
    path: tuple  # keys and indices from the root
    offset: int
    shape: tuple[int, ...]
    dtype: np.dtype  # the leaf's real precision in numpy terms
    kind: str  # "numpy", "numpy-scalar", "python", "array-api"
    namespace: object = None  # the array-API namespace (kind "array-api")
    device: object = None
    native_dtype: object = None
    exact: bool = True  # False for leaves that take the structure's precision (Python numbers, integers)

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    def build(self, a: np.ndarray) -> object:
        """The leaf's kind of value holding the numpy array ``a`` (shape ``self.shape`` or larger)."""
        if self.kind == "numpy":
            return a
        if self.kind in ("python", "numpy-scalar") and a.ndim == 0:
            if self.kind == "numpy-scalar":
                return a[()]
            return complex(a[()]) if a.dtype.kind == "c" else float(a[()])
        if self.kind != "array-api":
            return a
        xp = self.namespace
        dtype = self.native_dtype
        if a.dtype.kind == "c":
            dtype = xp.complex64 if a.dtype == np.complex64 else xp.complex128
        # a writable copy of our own: ``a`` may be a read-only view of the point, which torch
        # would share and warn about ("The given NumPy array is not writable")
        fresh = np.array(a, copy=True)
        try:
            return xp.asarray(fresh, dtype=dtype, device=self.device)
        except (TypeError, ValueError, RuntimeError, BufferError):
            out = xp.from_dlpack(fresh)
            return out if self.device is None else out.to_device(self.device)


# -- the tree ------------------------------------------------------------------------------------


def _accessor(root: str, path: tuple) -> str:
    return root + "".join(f"[{k!r}]" for k in path)


def is_structure(x: object) -> bool:
    """Whether ``x`` is a structure (dict, or list/tuple holding an array or a dict) rather than an array."""
    if isinstance(x, Mapping):
        return True
    if isinstance(x, list | tuple):
        return any(is_structure(e) or _is_array_api(e) or isinstance(e, np.ndarray) for e in x)
    return False


class Structure:
    """The tree of a structure and its leaves; see the module docstring for the conventions.

    Attributes
    ----------
    leaves : tuple of Leaf
        In flat order, with ``name``, ``offset``, ``shape``, dtype and array library.
    names : tuple of str
        The block names (``W1``, ``layers[0].W``, ...).
    size : int
        Length of the flat vector.
    dtype : numpy.dtype
        Precision of the flat vector.
    spread : bool
        Whether the root is a tuple of positional arguments (``f(*x)``).
    """

    def __init__(self, tree: object, *, names: tuple[str, ...] | None = None):
        self.spread = isinstance(tree, tuple)
        self._arg_names = names
        self._leaves: list[Leaf] = []
        self._arrays: list[np.ndarray] = []
        self._offset = 0
        self.treedef = self._walk(tree, ())
        self.names = tuple(leaf.name for leaf in self._leaves)
        self.size = self._offset
        floats = {leaf.dtype for leaf in self._leaves if leaf.exact}
        if len(floats) > 1:
            by = {dt: next(lf.name for lf in self._leaves if lf.dtype == dt and lf.exact) for dt in floats}
            raise TypeError(
                "`x` must hold leaves of one floating precision; got "
                + " and ".join(f"{dt} ({name})" for dt, name in sorted(by.items(), key=lambda t: str(t[0])))
                + ": convert them to one precision"
            )
        self.dtype = floats.pop() if floats else np.dtype(np.float64)
        self.leaves = tuple(self._adopt(leaf) for leaf in self._leaves)
        if self.size == 0:
            bare = self.treedef[0] == "leaf"
            what = (
                "a non-empty array" if bare else "a structure holding at least one float (integer arrays are constants)"
            )
            raise v.fail("x", what, tree)
        del self._leaves, self._offset

    def _adopt(self, leaf: Leaf) -> Leaf:
        """A leaf without a precision of its own (a Python number, integers) in the structure's."""
        if leaf.exact:
            return leaf
        native = None
        if leaf.kind == "array-api":
            native = leaf.namespace.float32 if self.dtype == np.float32 else leaf.namespace.float64
        return replace(leaf, dtype=self.dtype, native_dtype=native)

    def _name(self, path: tuple) -> str:
        if not path:  # a bare array-API array: the whole x
            return "x"
        head, rest = path[0], path[1:]
        if self.spread and self._arg_names is not None:
            name = self._arg_names[head]
        elif isinstance(head, str) and head.isidentifier():
            name = head
        else:
            name = f"x[{head!r}]"
        for k in rest:
            name += f".{k}" if isinstance(k, str) and k.isidentifier() else f"[{k!r}]"
        return name

    def _walk(self, node: object, path: tuple):
        if isinstance(node, Mapping):
            keys = tuple(node)
            return ("dict", type(node), keys, tuple(self._walk(node[k], (*path, k)) for k in keys))
        if isinstance(node, list | tuple) and (path == () or is_structure(node) or not _numbers(node)):
            return (
                "tuple" if isinstance(node, tuple) else "list",
                len(node),
                tuple(self._walk(e, (*path, i)) for i, e in enumerate(node)),
            )
        if not path and not _is_array_api(node):  # a numpy array at the root is not a structure
            raise v.fail("x", "a dict, list or tuple of arrays, or an array-API array", node, TypeError)
        if path and _integral(node):
            # word ids, labels, masks: handed to f as they are and not differentiated (as torch does);
            # a gradient structure may hold anything there (None, zeros)
            return ("const", node)
        self._leaves.append(self._leaf(node, path))
        return ("leaf", len(self._leaves) - 1)

    def _leaf(self, node: object, path: tuple) -> Leaf:
        name = self._name(path)
        kind, extra = "numpy", {}
        if isinstance(node, bool | np.bool_):
            raise TypeError(f"`{_accessor('x', path)}` must be an array or a number; got {node!r} (a bool)")
        if isinstance(node, numbers.Number) and not isinstance(node, np.generic):
            kind = "python"
        elif isinstance(node, np.generic):
            kind = "numpy-scalar"
        elif _is_array_api(node):
            xp = _namespace(node)
            kind, extra = "array-api", {"namespace": xp, "device": array_api_compat.device(node)}
            if xp.isdtype(node.dtype, "real floating") and node.dtype not in (xp.float32, xp.float64):
                v.precision(_accessor("x", path), node.dtype)  # float16, bfloat16: refused before numpy sees them
        elif isinstance(node, list | tuple):
            pass  # a nested list of numbers: an array
        elif not isinstance(node, np.ndarray):
            raise TypeError(f"`{_accessor('x', path)}` must be an array or a number; got {v.show(node)}")
        where = _accessor("x", path)
        arr = _leaf_array(where, node)
        exact = kind != "python" and arr.dtype.kind == "f"
        if arr.dtype.kind in "biu":
            arr = arr.astype(np.float64)
        elif arr.dtype.kind != "f":
            raise TypeError(f"`{where}` must be a real numeric array; got {v.show(arr)}")
        else:  # as for an array x: float16 is refused, not differentiated in its 3 digits
            v.precision(where, arr.dtype)
        if kind == "array-api":
            extra["native_dtype"] = node.dtype if exact else extra["namespace"].float64
        v.finite_array(where, arr)
        leaf = Leaf(name, path, self._offset, tuple(arr.shape), arr.dtype, kind, exact=exact, **extra)
        self._arrays.append(arr)
        self._offset += leaf.size
        return leaf

    # -- flat <-> tree --------------------------------------------------------------------------

    def blocks(self) -> tuple[Block, ...]:
        """The leaves as named :class:`~gradlab.objective.Block`s of the flat vector."""
        return tuple(Block(leaf.name, leaf.offset, leaf.shape) for leaf in self.leaves)

    def flat_point(self) -> np.ndarray:
        """The flat vector of the structure this was built from (a new array)."""
        out = np.concatenate([a.reshape(-1) for a in self._arrays]).astype(self.dtype, copy=False)
        del self._arrays
        return out

    def unflatten(self, flat: object, *, native: bool = True, constants: bool = False) -> object:
        """The structure holding the entries of ``flat`` (a vector of :attr:`size`, or of
        shape ``lead + (size,)``: then each leaf gets shape ``lead + leaf.shape``).

        ``native=False`` gives numpy arrays for every leaf (for diagnostics).  An integer array
        of ``x`` (a constant, not differentiated) is ``None`` there, as in torch's gradients;
        ``constants=True`` puts it back as it was (``f``'s arguments).
        """
        flat = np.asarray(flat)
        lead = flat.shape[:-1]
        if flat.shape[-1:] != (self.size,):
            raise v.fail("flat", f"a vector of {self.size} entries (the structure's size)", flat)
        parts = []
        for leaf in self.leaves:
            a = flat[..., leaf.offset : leaf.offset + leaf.size].reshape(lead + leaf.shape)
            parts.append(leaf.build(a) if native else a)
        return self._rebuild(self.treedef, parts, constants)

    def _rebuild(self, node, parts, constants: bool = True):
        tag = node[0]
        if tag == "leaf":
            return parts[node[1]]
        if tag == "const":
            return node[1] if constants else None
        if tag == "dict":
            _, cls, keys, children = node
            items = {k: self._rebuild(c, parts, constants) for k, c in zip(keys, children)}
            return items if cls is dict or not issubclass(cls, dict) else cls(items)
        children = [self._rebuild(c, parts, constants) for c in node[2]]
        return tuple(children) if tag == "tuple" else children

    def arguments(self, flat: np.ndarray) -> tuple:
        """The positional arguments a function of this structure receives at ``flat``."""
        tree = self.unflatten(flat, constants=True)
        return tree if self.spread else (tree,)

    def call(self, fn: Callable, flat: np.ndarray, *extra: object, what: str = "f") -> object:
        """``fn`` called on the structure at ``flat`` (then ``extra``), refusing a ``fn`` that wrote
        into an array-API leaf.

        A numpy leaf is a read-only view of ``flat``, so numpy itself refuses a write.  Array
        libraries without read-only arrays (torch, array-api-strict) get a fresh copy of each
        leaf instead, so a write cannot corrupt the point; it is still refused, as for numpy, by
        comparing the copy with ``flat`` after the call (the values ``fn`` saw must be ``x``'s).
        """
        leaves = self.leaves
        if flat.dtype == np.float64 and self.dtype == np.float32:
            # the checker's float64 lift of a float32 x (gradlab.check.case.lifted_point): an array-API leaf
            # is built in float64, as a numpy leaf is, so that f computes in float64 where its library can
            leaves = tuple(_widened(leaf) for leaf in leaves)
        parts = [leaf.build(flat[leaf.offset : leaf.offset + leaf.size].reshape(leaf.shape)) for leaf in leaves]
        tree = self._rebuild(self.treedef, parts)
        out = fn(*(tree if self.spread else (tree,)), *extra)
        for leaf, part in zip(self.leaves, parts):
            if leaf.kind == "array-api" and not array_api_compat.is_jax_array(part):  # jax arrays are immutable
                given = flat[leaf.offset : leaf.offset + leaf.size].reshape(leaf.shape)
                now = to_numpy(part)
                if now.shape != given.shape or not (now == given).all():
                    library = type(part).__module__.split(".")[0]
                    fix = "x = x.clone()" if library == "torch" else "x = xp.asarray(x, copy=True)"
                    raise FunctionWroteIntoItsArgument(
                        # (worded without "read-only": callers re-word numpy's read-only errors)
                        f"`{what}` writes into its argument {_accessor('x', leaf.path)} (an array of {library}, "
                        f"which cannot be locked against writes: gradlab hands {what} a copy and compared it "
                        f"after the call); a difference quotient is wrong if {what} changes the point it is "
                        f"given: copy the argument inside {what} before changing it ({fix})"
                    )
        return out

    def flatten_like(self, tree: object, what: str) -> np.ndarray:
        """A gradient ``tree`` of this structure as a flat vector; an error names the first path
        whose structure, shape or dtype differs.  ``what`` names the tree (``"grad(x)"``)."""
        out = np.empty(self.size, dtype=self.dtype)
        if self.spread and len(self.treedef[2]) == 1 and not isinstance(tree, list | tuple):
            tree = (tree,)  # f(x) of one argument: its gradient may come back bare, not as (dx,)
        self._match(self.treedef, tree, (), what, out)
        return out

    def _match(self, node, value, path, what, out) -> None:
        tag = node[0]
        where = _accessor(what, path)
        if tag == "const":
            return  # not differentiated: whatever the gradient holds there is not read
        if tag == "dict":
            keys = node[2]
            if not isinstance(value, Mapping):
                raise TypeError(f"`{where}` must be a dict with keys {list(keys)} like x; got {v.show(value)}")
            if set(value) != set(keys):
                missing = [k for k in keys if k not in value]
                extra = [k for k in value if k not in keys]
                raise ValueError(
                    f"`{where}` must have the keys of x, {list(keys)}; got {list(value)}"
                    + (f" (missing {missing})" if missing else "")
                    + (f" (unexpected {extra})" if extra else "")
                )
            for k, child in zip(keys, node[3]):
                self._match(child, value[k], (*path, k), what, out)
        elif tag in ("list", "tuple"):
            n = node[1]
            if not isinstance(value, list | tuple) or len(value) != n:
                raise TypeError(f"`{where}` must be a {tag} of {n} entries like x; got {v.show(value)}")
            for i, child in enumerate(node[2]):
                self._match(child, value[i], (*path, i), what, out)
        else:
            leaf = self.leaves[node[1]]
            try:
                arr = to_numpy(value)
            except Exception as exc:
                raise TypeError(f"`{where}` must be an array of shape {leaf.shape}; got {v.show(value)}") from exc
            if arr.shape != leaf.shape:
                raise ValueError(f"`{where}` must have shape {leaf.shape} like x; got {arr.shape}")
            if arr.dtype.kind != "f" or (arr.dtype != leaf.dtype and leaf.exact):
                raise TypeError(f"`{where}` must have dtype {leaf.dtype} like x; got {arr.dtype}")
            v.finite_array(where, arr)
            out[leaf.offset : leaf.offset + leaf.size] = arr.reshape(-1)

    def __repr__(self) -> str:
        shown = ", ".join(f"{leaf.name}: {leaf.shape}" for leaf in self.leaves)
        return f"Structure({shown}; {self.size} entries, {self.dtype})"


def _widened(leaf: Leaf) -> Leaf:
    """A float32 array-API leaf rebuilt in float64, where its library computes in float64 (jax only
    with ``jax_enable_x64`` on: else it would warn and stay float32)."""
    if leaf.kind != "array-api" or not leaf.exact:
        return leaf
    xp = leaf.namespace
    if array_api_compat.is_jax_namespace(xp):
        import jax  # already imported: the leaf is a jax array

        if not jax.config.read("jax_enable_x64"):
            return leaf
    return replace(leaf, native_dtype=xp.float64)


def _integral(node: object) -> bool:
    """An integer or boolean array (numpy or array-API) or numpy integer: a constant of ``f``."""
    if isinstance(node, np.ndarray | np.integer):
        return node.dtype.kind in "biu"
    if _is_array_api(node):
        xp = _namespace(node)
        return xp.isdtype(node.dtype, ("integral", "bool"))
    return False


def _numbers(seq) -> bool:
    """A (nested) list of plain numbers: an array leaf."""
    return all(_numbers(e) if isinstance(e, list | tuple) else isinstance(e, numbers.Number) for e in seq)


def flatten(tree: object, *, names: tuple[str, ...] | None = None) -> tuple[np.ndarray, Structure]:
    """A structure of arrays as ``(flat numpy vector, Structure)``; :meth:`Structure.unflatten` undoes it.

    Parameters
    ----------
    tree : dict, list, tuple or a nesting of them
        Leaves: numpy arrays, Python or numpy numbers, array-API arrays (torch, jax, cupy, ...).
        Never modified: the flat vector is a new array.
    names : tuple of str, optional
        Names for the entries of a top-level tuple (a function's positional parameters).
    """
    structure = Structure(tree, names=names)
    return structure.flat_point(), structure


def argument_names(f: Callable, n: int) -> tuple[str, ...] | None:
    """The names of the ``n`` positional parameters ``f(*x)`` binds, when it names them all."""
    try:
        sig = inspect.signature(f)
        sig.bind(*range(n))
    except (TypeError, ValueError):
        return None
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    positional = [p.name for p in sig.parameters.values() if p.kind in kinds]
    return tuple(positional[:n]) if len(positional) >= n else None


def _check_callable(f: Callable, structure: Structure, what: str, extra: int = 0) -> None:
    """A clear error, before any evaluation, when ``f`` cannot take the structure as it will be passed."""
    n = len(structure.treedef[2]) if structure.spread else 1
    try:
        sig = inspect.signature(f)
    except (TypeError, ValueError):
        return
    try:
        sig.bind(*([None] * (n + extra)))
    except TypeError as exc:
        spread = (
            f"`x` is a tuple, so {what} is called with one argument per entry (as torch's gradcheck does)"
            if structure.spread
            else f"{what} is called with the whole structure as one argument"
        )
        args = n + extra
        raise TypeError(
            f"`{what}` cannot be called with {args} positional argument{'s' if args != 1 else ''} ({exc}): "
            f"{spread}" + ("; pass a list to hand it the whole structure" if structure.spread else "")
        ) from None


# -- the objective -------------------------------------------------------------------------------


def scalar(y: object) -> object:
    """A value ``f`` returned, as something :class:`~gradlab.objective.Counted` reads as a scalar."""
    if type(y) is float or isinstance(y, np.ndarray | numbers.Number):
        return y
    if _is_array_api(y):
        return to_numpy(y)
    return y


class StructuredObjective:
    """A function of a structure seen as an :class:`~gradlab.objective.Objective` on the flat vector.

    ``value(flat)`` unflattens ``flat`` into the user's kind of structure and calls ``f``
    with it (``f(*x)`` for a tuple); blocks are named by path; ``gradient`` is ``None``
    unless given (a function of the flat vector); complex evaluation is to be tried;
    smoothness unknown.
    """

    complex_ok = None
    kinks = None

    def __init__(self, f: Callable, structure: Structure, gradient: Callable | None = None):
        self.f = f
        self.structure = structure
        self.gradient = gradient

    def value(self, flat: np.ndarray) -> object:
        return scalar(self.structure.call(self.f, flat))

    def point(self, x: object) -> np.ndarray:
        if isinstance(x, np.ndarray) and x.shape == (self.structure.size,):
            return x
        return flatten(x, names=self.structure._arg_names)[0]

    def blocks(self, x: np.ndarray | None = None) -> tuple[Block, ...]:
        return self.structure.blocks()

    def __repr__(self) -> str:
        return f"StructuredObjective({self.f!r}, {self.structure!r})"


@dataclass(frozen=True)
class Prepared:
    """A call on a structure, made flat: the objective, the flat point, and the structure."""

    objective: StructuredObjective
    point: np.ndarray
    structure: Structure


def prepare(f: object, x: object) -> Prepared | None:
    """``None`` for a plain array ``x`` or an ``f`` that is already an objective (the flat path,
    untouched); otherwise ``f`` on the flat vector of the structure ``x``.  A bare array-API
    array ``x`` (a torch tensor, ...) is a structure of one leaf: ``f`` gets that kind of
    array, and the result comes back as one."""
    bare = _is_array_api(x)
    if not bare and (isinstance(x, np.ndarray) or not is_structure(x)):
        return None
    if isinstance(f, Objective | Counted):
        if bare:  # an objective's flat parameter vector held as a tensor: read as numpy, as before
            return None
        raise TypeError(
            f"`x` must be the flat parameter vector of the objective {type(f).__name__}; got a "
            f"{type(x).__name__}: structures are for plain functions f(x)"
        )
    if not callable(f):
        raise v.fail("f", "a callable f(x) -> float", f, TypeError)
    names = argument_names(f, len(x)) if isinstance(x, tuple) else None
    point, structure = flatten(x, names=names)
    _check_callable(f, structure, "f")
    return Prepared(StructuredObjective(f, structure), point, structure)


def flat_function(fn: Callable, structure: Structure, what: str, *extra: object) -> Callable[[np.ndarray], np.ndarray]:
    """``fn`` (called like f, plus ``extra`` arguments) as a function of the flat vector returning a
    flat vector; it keeps ``fn``'s name, and a result of another structure is an error naming the path."""
    _check_callable(fn, structure, what.split("(")[0], len(extra))

    def flat(p: np.ndarray) -> np.ndarray:
        return structure.flatten_like(structure.call(fn, p, *extra, what=what.split("(")[0]), what)

    flat.__name__ = getattr(fn, "__name__", what.split("(")[0])
    return flat
