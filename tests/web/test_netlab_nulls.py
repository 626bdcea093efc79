"""A null in the training form is the field left out (it was a 500: "unsupported operand
type(s) for *: 'int' and 'NoneType'", found by a fuzz pass over the lab's endpoints)."""

from __future__ import annotations

import pytest

pytest.importorskip("starlette")
from chainrule.web.netlab_input import train_config  # noqa: E402


@pytest.mark.parametrize("key", ["batch_size", "iters", "seed", "lr", "epochs", "dropout",
                                 "weight_decay", "eval_every"])
def test_a_null_field_takes_its_default(key):
    assert train_config({"dataset": "digits", key: None}) == train_config({"dataset": "digits"})
