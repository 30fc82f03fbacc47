"""Registering a class for a transformers Auto class for the duration of one save.

``cls.register_for_auto_class(name)`` makes ``save_pretrained`` write ``auto_map`` and copy the class's module (and the
modules it imports relatively) next to the weights, so the folder loads with ``trust_remote_code=True`` where
bytevid_hf is not installed. transformers keeps that registration on the class for the rest of the process;
:func:`registered_for` undoes it when the block ends, so a registration never outlives the save that asked for it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

_MISSING = object()


@contextmanager
def registered_for(cls: type, auto_class: str) -> Iterator[None]:
    """``cls.register_for_auto_class(auto_class)`` while the block runs, then ``cls``'s previous registration back."""
    previous = cls.__dict__.get("_auto_class", _MISSING)
    cls.register_for_auto_class(auto_class)
    try:
        yield
    finally:
        if previous is _MISSING:
            del cls._auto_class
        else:
            cls._auto_class = previous


__all__ = ["registered_for"]
