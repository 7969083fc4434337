"""How the `Ledger` shows a command group's method as its own.

In the `Ledger`'s class body, ``register_customer = Delegate("_customers",
CustomerCommands.register_customer)`` makes ``ledger.register_customer(...)``
call the method on the ledger's ``_customers`` group. Type checkers and IDEs
see the method's own parameters and return type (a ParamSpec); at runtime
``Ledger.register_customer`` is a function with the method's signature and
docstring (``__wrapped__``), which is what `inspect`, `help()` and the API
reference read. No renaming: the name must be the method's name.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar, overload

P = ParamSpec("P")
R = TypeVar("R")
G = TypeVar("G")


class Delegate(Generic[G, P, R]):
    """A facade method that calls the method of the same name on one of the
    instance's command groups (the attribute named `group`)."""

    def __init__(self, group: str, method: Callable[Concatenate[G, P], R]) -> None:
        self.group = group
        self.method = method
        self.__doc__ = method.__doc__
        self.__wrapped__ = method
        self._function: Callable[..., R] = method

    def __set_name__(self, owner: type[Any], name: str) -> None:
        if name != self.method.__name__:
            raise TypeError(
                f"{owner.__name__}.{name} must have the name of the method it calls, "
                f"{self.method.__name__}"
            )
        group = self.group

        def call(facade: Any, /, *args: Any, **kwargs: Any) -> R:
            method: Callable[..., R] = getattr(getattr(facade, group), name)
            return method(*args, **kwargs)

        # The group's method's signature, docstring and annotations, under
        # the facade's name: inspect.signature follows __wrapped__.
        functools.update_wrapper(call, self.method)
        call.__module__ = owner.__module__
        call.__qualname__ = f"{owner.__qualname__}.{name}"
        self._function = call

    @overload
    def __get__(self, instance: None, owner: type[Any]) -> Callable[Concatenate[Any, P], R]: ...

    @overload
    def __get__(self, instance: object, owner: type[Any] | None = None) -> Callable[P, R]: ...

    def __get__(self, instance: object | None, owner: type[Any] | None = None) -> Callable[..., R]:
        if instance is None:
            return self._function
        # The group's bound method itself: one call, and its own signature.
        bound: Callable[..., R] = getattr(getattr(instance, self.group), self.method.__name__)
        return bound
