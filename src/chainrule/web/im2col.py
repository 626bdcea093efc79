"""The im2col page (``/im2col``): the book's convolution one window at a time.

- ``GET  /im2col``        the page
- ``POST /api/im2col``    sizes (``n``, ``c``, ``h``, ``w``, ``fn``, ``fh``, ``fw``,
  ``stride``, ``pad``), optional arrays ``x``, ``W``, ``b``, ``dout`` (what is left out
  is drawn from ``seed``: small whole numbers), ``upto`` (how many rows ``col2im`` has
  added so far; default all) and ``check`` (the numerical derivative; default true) →
  every number of :func:`chainrule.core.conv_steps.conv_steps` and
  :func:`~chainrule.core.conv_steps.col2im_upto`, as JSON.

The sizes are small (at most 2 images of 3 channels of 8x8, 4 filters, pad 2): a request
is a few milliseconds of work, the numerical derivative included. All numbers come from
:mod:`chainrule.core.conv_steps`, which runs :mod:`chainrule.core.conv`'s ``im2col``,
``col2im`` and ``Convolution``; this module parses, checks and answers.
"""

from __future__ import annotations

import numpy as np
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from chainrule.core.checks import finite_or_none
from chainrule.core.conv_steps import RTOL, col2im_upto, conv_steps
from chainrule.core.messages import Catalog
from chainrule.web.kit import LabState, RequestError, page
from chainrule.web.netlab_input import check_keys, got, int_field, read_object, shown

PAGE = {"id": "im2col", "path": "/im2col", "group": "ch7"}
MAX_BODY = 128 << 10
LIMITS = {"n": 2, "c": 3, "h": 8, "w": 8, "fn": 4, "stride": 4, "pad": 2}
"""The largest sizes: a filter may be as large as the padded input."""
MAX_VALUE = 1000.0
DEFAULTS = {"n": 1, "c": 1, "h": 4, "w": 4, "fn": 1, "fh": 2, "fw": 2, "stride": 1, "pad": 0}
"""The first example: a 4x4 input, one 2x2 filter, stride 1 (nine windows)."""
KEYS = (*DEFAULTS, "seed", "x", "W", "b", "dout", "upto", "check")

MESSAGES = Catalog("im2col", {
    "im2col.shape": "{field} must be nested lists of shape {shape}: axis {axis} should have "
                    "{size} entries, got {got}",
    "im2col.not_number": "{field} must hold only numbers, got {got}",
    "im2col.range": "{field} must hold numbers from -{max} to {max}",
    "im2col.flag": "{field} must be true or false, got {got}",
})
"""The im2col page's words (see :mod:`chainrule.core.messages`); the sizes and options
are checked with the network lab's codes (``net.whole_number``, ...)."""


def sizes_of(data: dict) -> dict[str, int]:
    """The sizes of a request, each in its range; the filter may be as large as the
    padded input."""
    s = {k: _whole(data, k, 0 if k == "pad" else 1, hi, DEFAULTS[k])
         for k, hi in LIMITS.items()}
    s["fh"] = _whole(data, "fh", 1, s["h"] + 2 * s["pad"], min(DEFAULTS["fh"], s["h"]))
    s["fw"] = _whole(data, "fw", 1, s["w"] + 2 * s["pad"], min(DEFAULTS["fw"], s["w"]))
    return s


def _whole(data: dict, key: str, lo: int, hi: int, default: int) -> int:
    """``data[key]``, a whole number in ``lo..hi``; ``default`` when left out or null."""
    v = int_field(data, key, lo, hi)
    return default if v is None else v


def array_field(data: dict, key: str, shape: tuple[int, ...]) -> np.ndarray | None:
    """``data[key]`` as a float64 array of ``shape`` (a nested list of numbers in
    ``±MAX_VALUE``), or None when it is left out."""
    value = data.get(key)
    if value is None:
        return None
    flat: list = []
    todo = [(value, 0)]
    named = "×".join(map(str, shape))
    while todo:  # the structure, level by level: each list as long as its axis
        item, depth = todo.pop()
        if depth == len(shape):
            if isinstance(item, bool) or not isinstance(item, (int, float)):
                raise RequestError("im2col.not_number", field=key, got=shown(item))
            flat.append(item)
            continue
        if not isinstance(item, list) or len(item) != shape[depth]:
            raise RequestError("im2col.shape", field=key, shape=named, axis=depth,
                               size=shape[depth], got=len(item) if isinstance(item, list)
                               else shown(item))
        todo.extend((v, depth + 1) for v in reversed(item))
    try:
        a = np.array(flat, dtype=np.float64).reshape(shape)
    except OverflowError:
        raise RequestError("im2col.range", field=key, max=MAX_VALUE) from None
    if not np.all(np.isfinite(a)) or np.abs(a).max(initial=0) > MAX_VALUE:
        raise RequestError("im2col.range", field=key, max=MAX_VALUE)
    return a


def parse(data: dict) -> dict:
    """The checked request: sizes, arrays (drawn from ``seed`` where left out), ``upto``
    and ``check``."""
    check_keys(data, KEYS)
    s = sizes_of(data)
    oh = (s["h"] + 2 * s["pad"] - s["fh"]) // s["stride"] + 1
    ow = (s["w"] + 2 * s["pad"] - s["fw"]) // s["stride"] + 1
    seed = _whole(data, "seed", 0, 2**31 - 1, 0)
    rng = np.random.default_rng(seed)
    shapes = {"x": (s["n"], s["c"], s["h"], s["w"]), "W": (s["fn"], s["c"], s["fh"], s["fw"]),
              "b": (s["fn"],), "dout": (s["n"], s["fn"], oh, ow)}
    drawn = {"x": (0, 10), "W": (-1, 3), "b": (0, 1), "dout": (1, 4)}  # whole numbers in [lo, hi)
    arrays = {}
    for key, shape in shapes.items():  # drawn in this order whatever is given
        lo, hi = drawn[key]
        made = rng.integers(lo, hi, shape).astype(np.float64)
        given = array_field(data, key, shape)
        arrays[key] = made if given is None else given
    rows = s["n"] * oh * ow
    upto = _whole(data, "upto", 0, rows, rows)
    check = data.get("check")
    check = True if check is None else check
    if not isinstance(check, bool):
        raise RequestError("im2col.flag", field="check", got=got(check))
    return {"sizes": {**s, "oh": oh, "ow": ow, "rows": rows,
                      "cols": s["c"] * s["fh"] * s["fw"]},
            "seed": seed, "upto": upto, "check": check, **arrays}


def _check(c) -> dict:
    return {"agree": c.passed, "max_abs_diff": finite_or_none(c.max_abs_diff),
            "max_rel_error": finite_or_none(c.max_rel_error), "rtol": RTOL}


def answer(request: dict) -> dict:
    """Everything the page draws, for one checked request."""
    s = request["sizes"]
    steps = conv_steps(request["x"], request["W"], request["b"], request["dout"],
                       stride=s["stride"], pad=s["pad"], check=request["check"])
    sums, counts = col2im_upto(steps.dcol, steps.x.shape, s["fh"], s["fw"], s["stride"],
                               s["pad"], request["upto"])
    columns = [[c, y, x] for c in range(s["c"]) for y in range(s["fh"]) for x in range(s["fw"])]
    checks = {"forward": _check(steps.forward_check), "layer": _check(steps.layer_check)}
    if request["check"]:
        checks["numerical"] = _check(steps.numerical_check)
    return {
        "sizes": s, "seed": request["seed"], "upto": request["upto"],
        "x": steps.x.tolist(), "W": steps.W.tolist(), "b": steps.b.tolist(),
        "padded": steps.padded.tolist(), "col": steps.col.tolist(),
        "col_W": steps.col_W.tolist(), "product": steps.product.tolist(),
        "out": steps.out.tolist(), "columns": columns,
        "windows": [[w.n, w.i, w.j, w.top, w.left] for w in steps.windows],
        "dout": steps.dout.tolist(), "dout_rows": steps.dout_rows.tolist(),
        "dcol": steps.dcol.tolist(), "coverage": steps.coverage.tolist(),
        "dx": steps.dx.tolist(), "dx_layer": steps.dx_layer.tolist(),
        "dx_numerical": steps.dx_numerical.tolist() if request["check"] else None,
        "sums": sums.tolist(), "counts": counts.tolist(), "checks": checks,
    }


def routes(state: LabState) -> list[BaseRoute]:
    async def steps(request: Request) -> Response:
        data = await read_object(request, MAX_BODY)
        parsed = parse(data)
        with np.errstate(all="ignore"):
            return JSONResponse(await run_in_threadpool(answer, parsed))

    return [Route("/im2col", page("im2col"), methods=["GET"]),
            Route("/api/im2col", steps, methods=["POST"])]
