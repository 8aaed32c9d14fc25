"""Arrays without reference counting in numba kernels: `borrowed(a)`, and `pointer(address)` for carray.

numba keeps an atomic reference count on each array's memory (its "meminfo"). Every slice, reshape and
view passed to a helper adds to it and subtracts from it again. The whole-network kernels make dozens of
views per step, and on the playground these atomics were 40 % of a numba train step (perf). A borrowed
array has no meminfo, so its views count nothing.

This is safe only while something else keeps the memory alive, and only if no view escapes. Borrow a
kernel's own arguments: the caller holds them for the length of the call. Return only scalars. The same
holds for `numba.carray(pointer(address), ...)`: the Python object that passes an address holds its array.
"""
from __future__ import annotations

from numba import types
from numba.core import cgutils
from numba.extending import intrinsic
from numba.np.arrayobj import make_array, populate_array


@intrinsic
def borrowed(typingctx, arr):
    """arr's data, shape and strides in a new array struct with no meminfo and no parent object."""
    if not isinstance(arr, types.Array):
        return None

    def codegen(context, builder, signature, args):
        src = make_array(arr)(context, builder, value=args[0])
        out = make_array(arr)(context, builder)
        populate_array(out, data=src.data, shape=src.shape, strides=src.strides, itemsize=src.itemsize,
                       meminfo=None)
        return out._getvalue()

    return arr(arr), codegen


@intrinsic
def pointer(typingctx, address):
    """An integer address (an array's .ctypes.data) as the void pointer numba.carray takes."""
    if not isinstance(address, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        return builder.inttoptr(args[0], cgutils.voidptr_t)

    return types.voidptr(address), codegen


@intrinsic
def matrix(typingctx, vec, rows, cols):
    """A C-contiguous 1-D vec as a (rows, cols) array, borrowed: a reshape without numba's C helper call
    (~30 ns, tens of them per step). rows · cols ≤ vec.size is the caller's to ensure."""
    if not (isinstance(vec, types.Array) and vec.ndim == 1 and vec.layout == "C"
            and isinstance(rows, types.Integer) and isinstance(cols, types.Integer)):
        return None
    result = vec.copy(ndim=2, layout="C")

    def codegen(context, builder, signature, args):
        src = make_array(vec)(context, builder, value=args[0])
        out = make_array(result)(context, builder)
        n_rows = context.cast(builder, args[1], signature.args[1], types.intp)
        n_cols = context.cast(builder, args[2], signature.args[2], types.intp)
        shape = cgutils.pack_array(builder, [n_rows, n_cols])
        strides = cgutils.pack_array(builder, [builder.mul(n_cols, src.itemsize), src.itemsize])
        populate_array(out, data=src.data, shape=shape, strides=strides, itemsize=src.itemsize, meminfo=None)
        return out._getvalue()

    return result(vec, rows, cols), codegen


@intrinsic
def flat(typingctx, arr):
    """A C-contiguous array as a borrowed 1-D view of all its elements (a reshape without the C helper)."""
    if not (isinstance(arr, types.Array) and arr.layout == "C"):
        return None
    result = arr.copy(ndim=1, layout="C")

    def codegen(context, builder, signature, args):
        src = make_array(arr)(context, builder, value=args[0])
        out = make_array(result)(context, builder)
        populate_array(out, data=src.data, shape=cgutils.pack_array(builder, [src.nitems]),
                       strides=cgutils.pack_array(builder, [src.itemsize]), itemsize=src.itemsize, meminfo=None)
        return out._getvalue()

    return result(arr), codegen
