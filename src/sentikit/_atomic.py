"""The one way sentikit writes an output file: completely or not at all, and never over what is not a file.

A regular file (or a new path) is written to a temporary file next to it and renamed into place only
when the writing finished without an error, so a failed run leaves the old file (or nothing), never a
half-written one. A path that exists but is not a regular file is never renamed over: character
devices and FIFOs (``/dev/null``, a terminal, a named pipe) are written to directly, as a shell
redirection would, and so are names of open descriptors (``/dev/stdout``, ``/dev/fd/N``), appending;
directories, sockets and block devices are refused.
"""

from __future__ import annotations

import os
import re
import stat
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Iterator, Optional, Union

from .errors import OutputError

__all__ = ["atomic_output", "output_directory"]

_DESCRIPTOR_ALIAS = re.compile(r"^(/dev/(stdout|stderr|fd/\d+)|/proc/(self|thread-self|\d+)/fd/\d+)$")


@contextmanager
def atomic_output(
    path: Union[str, Path], *, binary: bool = False, encoding: str = "utf-8", newline: Optional[str] = None
) -> Iterator[IO[Any]]:
    """Open ``path`` for writing (text, or bytes with ``binary``); commit when the block ends cleanly.

    A symlink to a regular file keeps being a link: its target is replaced. A replaced file keeps its
    permission bits; a new one gets 0666 minus the umask, as with a shell redirection.

    Raises:
        OutputError: the path is a directory, socket or block device, its folder does not exist, or
            it cannot be written (permission, read-only or full file system); one line naming the path.
    """
    name = str(path)
    mode = "wb" if binary else "w"
    text_args: dict[str, Any] = {} if binary else {"encoding": encoding, "newline": newline}
    info = _stat(name)
    alias = _descriptor_alias(name)
    if alias or (info is not None and not stat.S_ISREG(info.st_mode)):
        if info is not None and not alias:
            _refuse_unless_stream(name, info.st_mode)
        try:
            # Append to an alias of an open descriptor: `-o /dev/stdout >> log` must not truncate the log
            # (nor replace it by renaming); with `>` the shell has truncated it already.
            direct = open(name, mode.replace("w", "a") if alias else mode, **text_args)
        except OSError as exc:
            raise _error(name, exc) from None
        try:
            with direct:
                yield direct
        except OSError as exc:
            raise _error(name, exc) from None
        return

    target = Path(os.path.realpath(name))  # write where a symlink points, keep the link
    if not target.parent.is_dir():
        raise OutputError(f"{name}: the folder {target.parent} does not exist")
    fd, tmp = _create_temporary(name, target)
    try:
        with os.fdopen(fd, mode, **text_args) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        if info is not None:
            os.chmod(tmp, stat.S_IMODE(info.st_mode))
        now = _stat(str(target))
        if now is not None and not stat.S_ISREG(now.st_mode):  # replaced by a device meanwhile
            _refuse_unless_stream(name, now.st_mode, changed=True)
        os.replace(tmp, target)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise _error(name, exc) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def output_directory(path: Union[str, Path]) -> Path:
    """``path`` as a directory to write files into, created (with its parents) if missing.

    Raises:
        OutputError: it exists and is not a directory, or cannot be created; one line naming it.
    """
    directory = Path(path)
    if directory.exists() and not directory.is_dir():
        raise OutputError(f"{path}: exists and is not a directory")
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _error(str(path), exc) from None
    return directory


def _descriptor_alias(name: str) -> bool:
    """``/dev/stdout``, ``/dev/fd/3``, ``/proc/self/fd/1``…: a name for a descriptor already open."""
    return bool(_DESCRIPTOR_ALIAS.match(os.path.abspath(name)))


def _stat(name: str) -> Optional[os.stat_result]:
    try:
        return os.stat(name)
    except FileNotFoundError:
        return None  # no such path (or a dangling symlink): a new file
    except OSError as exc:
        raise _error(name, exc) from None


def _refuse_unless_stream(name: str, mode: int, *, changed: bool = False) -> None:
    """Character devices and FIFOs are written directly; anything else that is not a file is refused."""
    if stat.S_ISCHR(mode) or stat.S_ISFIFO(mode):
        if changed:
            raise OutputError(f"{name}: turned into a device or pipe while it was being written; nothing written")
        return
    if stat.S_ISDIR(mode):
        raise OutputError(f"{name}: a directory; give a file name inside it")
    kind = "a socket" if stat.S_ISSOCK(mode) else "a block device" if stat.S_ISBLK(mode) else "not a regular file"
    raise OutputError(f"{name}: {kind}; sentikit writes only to files, character devices and pipes")


def _error(name: str, exc: OSError) -> OutputError:
    if isinstance(exc, PermissionError):
        return OutputError(f"{name}: permission denied")
    if isinstance(exc, IsADirectoryError):
        return OutputError(f"{name}: a directory; give a file name inside it")
    return OutputError(f"{name}: cannot write ({exc.strerror or exc})")


def _create_temporary(name: str, target: Path) -> tuple[int, str]:
    """A new hidden file next to ``target``, created 0666 minus the umask (mkstemp's 0600 would stick)."""
    for _ in range(100):
        tmp = str(target.with_name(f".{target.name}.{os.urandom(4).hex()}.tmp"))
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666), tmp
        except FileExistsError:
            continue
        except OSError as exc:
            raise _error(name, exc) from None
    raise OutputError(f"{name}: cannot create a temporary file next to it")
