"""EPICS access security (ACF files) for the cawire server.

The file format is EPICS base's (``asLib``), INP/CALC-free subset::

    UAG(operators) { alice, bob }
    HAG(consoles)  { console1, console2 }
    ASG(DEFAULT) {
        RULE(1, READ)
        RULE(1, WRITE, TRAPWRITE) {
            UAG(operators)
            HAG(consoles)
        }
    }

Supported: UAG, HAG, ASG, RULE(level, NONE|READ|WRITE[, TRAPWRITE|
NOTRAPWRITE]) with UAG/HAG conditions, comments, quoted names. Not
supported (a clear error when the file uses them): INPA..INPL and CALC
conditions and the RPC right. HAG entries are compared case-insensitively
with the HOST_NAME the client sent (RSRV's default). With
``EPICS_AS_CHECK_CLIENT_IP=YES`` (RSRV's ``asCheckClientIP``), each HAG
entry is resolved to an IPv4 address when the file is read (one that does
not resolve becomes ``unresolved:NAME``, which no client matches, with a
logged error) and the server uses the client's IP address (the TCP peer)
as its host, ignoring the HOST_NAME it sends. TRAPWRITE is accepted and
ignored.

Rights are computed as RSRV does: a rule applies to a channel when the
rule's level is at least the channel's access security level (0 for a PV's
value, 1 for record fields other than VAL), when the client's user name is
in one of its UAGs (or it names none) and its host in one of its HAGs (or
it names none); the client gets the highest right of the rules that apply
(WRITE includes READ). A channel whose group is not in the file falls back
to DEFAULT; without a DEFAULT group it has no access.

Use :func:`apply_access_security` on a pvdb (``ioc.pvdb``); change the file
and call :meth:`AccessSecurity.reload` (or send SIGHUP after
:meth:`AccessSecurity.reload_on_sighup`): every connected client's rights
are re-evaluated and changed rights are sent (ACCESS_RIGHTS) without
reconnecting.
"""
from __future__ import annotations

import logging
import os
import re
import signal
import socket
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from typing import TYPE_CHECKING

from ..config import Config
from ..protocol._enums import AccessRights
from ..protocol._exceptions import CaprotoValueError

if TYPE_CHECKING:
    import asyncio

    from ._server import Context

__all__ = ('AccessSecurity', 'AccessSecurityError', 'apply_access_security',
           'parse_acf')

logger = logging.getLogger('cawire.server.access_security')

_NONE = AccessRights.NO_ACCESS
_READ = AccessRights.READ
_WRITE = AccessRights.READ | AccessRights.WRITE
_RIGHTS = {'NONE': _NONE, 'READ': _READ, 'WRITE': _WRITE}
_TOKEN_RE = re.compile(r'"((?:[^"\\]|\\.)*)"|([A-Za-z0-9_.:+\-\[\]<>;$]+)|'
                       r'([(){},])|(#[^\n]*)|(\s+)')


class AccessSecurityError(CaprotoValueError):
    """The access security file cannot be used (syntax or unsupported)."""


class _Rule:
    __slots__ = ('level', 'rights', 'uags', 'hags')

    def __init__(self, level: int, rights: AccessRights):
        self.level = level
        self.rights = rights
        self.uags: list[str] = []
        self.hags: list[str] = []


class _Config:
    """One parsed file: user groups, host groups, access security groups."""

    def __init__(self) -> None:
        self.uags: dict[str, set[str]] = {}
        self.hags: dict[str, set[str]] = {}
        self.asgs: dict[str, list[_Rule]] = {}

    def rights(self, group: str, user: str, host: str,
               level: int) -> AccessRights:
        rules = self.asgs.get(group)
        if rules is None:
            rules = self.asgs.get('DEFAULT', [])
        host = host.lower()
        best = _NONE
        for rule in rules:
            if rule.level < level or rule.rights <= best:
                continue
            if rule.uags and not any(user in self.uags.get(name, ())
                                     for name in rule.uags):
                continue
            if rule.hags and not any(host in self.hags.get(name, ())
                                     for name in rule.hags):
                continue
            best = rule.rights
        return best


def _tokens(text: str) -> list[tuple[str, int]]:
    tokens = []
    line = 1
    position = 0
    while position < len(text):
        match = _TOKEN_RE.match(text, position)
        if match is None:
            raise AccessSecurityError(
                f'line {line}: unexpected {text[position]!r}')
        quoted, word, punctuation, _comment, _space = match.groups()
        if quoted is not None:
            tokens.append(('"' + quoted, line))
        elif word is not None:
            tokens.append((word, line))
        elif punctuation is not None:
            tokens.append((punctuation, line))
        line += match.group(0).count('\n')
        position = match.end()
    return tokens


def host_address(host: str) -> str:
    """A HAG entry as matched by address (asCheckClientIP): its IPv4
    address in dotted form, or ``unresolved:HOST``."""
    try:
        return socket.gethostbyname(host)
    except (OSError, UnicodeError):
        logger.error('access security: cannot resolve host %r', host)
        return f'unresolved:{host}'


class _Parser:
    def __init__(self, text: str, check_client_ip: bool = False):
        self.tokens = _tokens(text)
        self.position = 0
        self.config = _Config()
        self.check_client_ip = check_client_ip

    def _peek(self) -> str | None:
        if self.position < len(self.tokens):
            return self.tokens[self.position][0]
        return None

    def _line(self) -> int:
        if self.position < len(self.tokens):
            return self.tokens[self.position][1]
        return self.tokens[-1][1] if self.tokens else 1

    def _next(self) -> str:
        token = self._peek()
        if token is None:
            raise AccessSecurityError('unexpected end of file')
        self.position += 1
        return token

    def _expect(self, wanted: str) -> None:
        line = self._line()
        token = self._next()
        if token != wanted:
            raise AccessSecurityError(
                f'line {line}: expected {wanted!r}, found {token!r}')

    def _name(self) -> str:
        line = self._line()
        token = self._next()
        if token in ('(', ')', '{', '}', ','):
            raise AccessSecurityError(f'line {line}: expected a name, '
                                      f'found {token!r}')
        return token[1:] if token.startswith('"') else token

    def _names_in_braces(self) -> set[str]:
        names: set[str] = set()
        if self._peek() != '{':
            return names
        self._expect('{')
        while self._peek() != '}':
            names.add(self._name())
            if self._peek() == ',':
                self._next()
        self._expect('}')
        return names

    def parse(self) -> _Config:
        while self._peek() is not None:
            line = self._line()
            keyword = self._next()
            self._expect('(')
            name = self._name()
            self._expect(')')
            if keyword == 'UAG':
                self.config.uags.setdefault(name, set()).update(
                    self._names_in_braces())
            elif keyword == 'HAG':
                hosts = self._names_in_braces()
                self.config.hags.setdefault(name, set()).update(
                    host_address(host) if self.check_client_ip
                    else host.lower() for host in hosts)
            elif keyword == 'ASG':
                self.config.asgs[name] = self._asg_body(name)
            else:
                raise AccessSecurityError(
                    f'line {line}: {keyword!r} is not supported (UAG, HAG, '
                    'ASG are)')
        return self.config

    def _asg_body(self, group: str) -> list[_Rule]:
        rules: list[_Rule] = []
        if self._peek() != '{':
            return rules
        self._expect('{')
        while self._peek() != '}':
            line = self._line()
            keyword = self._next()
            if keyword != 'RULE':
                raise AccessSecurityError(
                    f'line {line}: {keyword!r} in ASG({group}) is not '
                    'supported (only RULE; INP and CALC are not)')
            rules.append(self._rule(line))
        self._expect('}')
        return rules

    def _rule(self, line: int) -> _Rule:
        self._expect('(')
        level_text = self._name()
        self._expect(',')
        rights_text = self._name()
        if not level_text.isdigit() or rights_text not in _RIGHTS:
            raise AccessSecurityError(
                f'line {line}: RULE({level_text}, {rights_text}) needs a '
                'level number and NONE, READ or WRITE')
        if self._peek() == ',':
            self._next()
            option = self._name()
            if option not in ('TRAPWRITE', 'NOTRAPWRITE'):
                raise AccessSecurityError(
                    f'line {line}: unknown RULE option {option!r}')
        self._expect(')')
        rule = _Rule(int(level_text), _RIGHTS[rights_text])
        if self._peek() == '{':
            self._expect('{')
            while self._peek() != '}':
                condition_line = self._line()
                keyword = self._next()
                self._expect('(')
                names = [self._name()]
                while self._peek() == ',':
                    self._next()
                    names.append(self._name())
                self._expect(')')
                if keyword == 'UAG':
                    rule.uags.extend(names)
                elif keyword == 'HAG':
                    rule.hags.extend(names)
                else:
                    raise AccessSecurityError(
                        f'line {condition_line}: {keyword!r} conditions are '
                        'not supported (UAG and HAG are)')
            self._expect('}')
        return rule


def parse_acf(text: str, check_client_ip: bool = False) -> _Config:
    """Parse access security text (raises AccessSecurityError); with
    ``check_client_ip`` HAG entries are resolved to addresses."""
    return _Parser(text, check_client_ip).parse()


class AccessSecurity:
    """An access security configuration, shared by the channels it governs.

    Parameters
    ----------
    path : str or os.PathLike, optional
        The ACF file (read now and by :meth:`reload`).
    text : str, optional
        ACF text instead of a file.
    check_client_ip : bool, optional
        Match HAG entries by address (see the module docstring); default
        from ``EPICS_AS_CHECK_CLIENT_IP``, which the server also reads to
        decide a client's host, so leave it unset unless both agree.
    """

    def __init__(self, path: str | os.PathLike | None = None, *,
                 text: str | None = None,
                 check_client_ip: bool | None = None):
        if (path is None) == (text is None):
            raise CaprotoValueError('give either path or text')
        self.path = None if path is None else os.fspath(path)
        if check_client_ip is None:
            check_client_ip = Config.from_environ().as_check_client_ip
        self.check_client_ip = bool(check_client_ip)
        self._config = parse_acf(text if text is not None else
                                 self._read(), self.check_client_ip)
        self._listeners: list[Callable[[], None]] = []

    def _read(self) -> str:
        assert self.path is not None
        with open(self.path, encoding='utf-8') as file:
            return file.read()

    def rights(self, group: str, username: str, hostname: str,
               level: int = 0) -> AccessRights:
        """The rights of a client on a channel of ``group`` at ``level``."""
        return self._config.rights(group, username or '', hostname or '',
                                   level)

    def add_listener(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` after each reload (servers re-evaluate the
        rights of their clients there)."""
        if callback not in self._listeners:
            self._listeners.append(callback)

    def remove_listener(self, callback: Callable[[], None]) -> None:
        """Stop calling ``callback`` after reloads (no error if absent)."""
        if callback in self._listeners:
            self._listeners.remove(callback)

    def reload(self, text: str | None = None) -> None:
        """Re-read the file (or use ``text``) and update connected clients.

        A file that does not parse raises AccessSecurityError and leaves the
        current rules in force.
        """
        self._config = parse_acf(text if text is not None else self._read(),
                                 self.check_client_ip)
        logger.info('access security reloaded%s',
                    f' from {self.path}' if self.path else '')
        for callback in list(self._listeners):
            try:
                callback()
            except Exception:  # noqa: BLE001 - one server must not stop others
                logger.exception('access rights update failed')

    def reload_on_sighup(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        """Reload when the process gets SIGHUP (call in the server's loop)."""
        import asyncio
        loop = loop or asyncio.get_running_loop()

        def on_signal() -> None:
            try:
                self.reload()
            except AccessSecurityError as exc:
                logger.error('access security not reloaded: %s', exc)
        loop.add_signal_handler(signal.SIGHUP, on_signal)


def apply_access_security(pvdb: Mapping[str, Any],
                          access_security: AccessSecurity, *,
                          groups: Mapping[str, str] | Callable | None = None,
                          default_group: str = 'DEFAULT') -> None:
    """Govern the channels of ``pvdb`` by ``access_security``.

    Parameters
    ----------
    pvdb : mapping
        PV name to ChannelData (``ioc.pvdb``).
    access_security : AccessSecurity
    groups : mapping or callable, optional
        PV name to ASG name (a callable gets the name and returns the group
        or None); unlisted PVs are in ``default_group``. A record field
        (``x.HIHI``) is in its record's group unless listed itself.
    default_group : str
    """
    def group_of(name: str) -> str:
        for candidate in (name, name.rsplit('.', 1)[0]):
            if callable(groups):
                group = groups(candidate)
            elif groups is not None:
                group = groups.get(candidate)
            else:
                group = None
            if group:
                return group
        return default_group

    for name, channel in pvdb.items():
        channel.access_security = access_security
        channel.access_security_group = group_of(name)
        # Record fields other than VAL are at level 1 (RSRV: ASL1).
        definition = getattr(channel, 'definition', None)
        channel.access_security_level = 1 if definition is not None else 0


def channels_governed(pvdb: Mapping[str, Any]) -> Iterable[AccessSecurity]:
    """The distinct AccessSecurity objects of a pvdb's channels."""
    seen: dict[int, AccessSecurity] = {}
    for channel in pvdb.values():
        security = getattr(channel, 'access_security', None)
        if security is not None:
            seen[id(security)] = security
    return seen.values()


def watch_reloads(context: Context) -> Callable[[], None]:
    """Make ``context`` (a running server) update its clients' rights after
    each reload of an AccessSecurity its channels use; returns the function
    that stops this (called when the server stops)."""
    def refresh() -> None:
        for circuit in list(context.circuits):
            circuit.refresh_access_rights()

    securities = list(channels_governed(context.pvdb))
    for security in securities:
        security.add_listener(refresh)

    def unwatch() -> None:
        for security in securities:
            security.remove_listener(refresh)
    return unwatch
