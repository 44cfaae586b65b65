"""What a CLI command hands to the function behind it, without running that function."""

import pytest

from latentscenes.cli.main import main


class _Captured(Exception):
    pass


def settings_passed_to(monkeypatch, module, name: str, argv: list[str]):
    """Run `latentscenes ARGV` with `module.name` replaced by a stand-in that stops the
    command; return the one argument the command passed to it."""
    seen = []

    def stand_in(settings):
        seen.append(settings)
        raise _Captured

    monkeypatch.setattr(module, name, stand_in)
    with pytest.raises(_Captured):
        main(argv)
    return seen[0]
