"""pyepics's ``PV`` class and ``get_pv``, on cawire's threading client.

A pyepics PV keeps one dictionary of everything known about the channel
(value, alarm, time stamp, control fields, access) that monitor updates and
explicit reads keep current, and hands a copy of it to every user callback.
This class keeps that contract, with pyepics's defaults, return values and
messages; the channel itself is a :class:`cawire.threading.client.PV` of the
process-wide context (:func:`cawire.pyepics.ca.context`), shared by every
pyepics-style PV of the same name.
"""
from __future__ import annotations

import functools
import logging
import socket
import threading
import time
from types import SimpleNamespace
from typing import Any

from . import _convert, ca, dbr
from ._auto_monitor import AutoMonitor
from ._info import fmt_time, info_text
from ._pv_callbacks import (add_value_callback, call_user,
                            initial_value_callbacks, notify_access,
                            notify_connection, run_value_callback)
from ._pv_connection import ConnectionClaim
from ._pv_requests import check_write_access, read_metadata, write_data

__all__ = ('PV', 'get_pv', 'fmt_time', 'clear_pvcache')

logger = logging.getLogger('cawire.pyepics')

_PVcache_: dict = {}
_cache_lock = threading.Lock()

_ACCESS_STRINGS = ('no access', 'read-only', 'write-only', 'read/write')
_TIME_KEYS = ('status', 'severity', 'timestamp', 'posixseconds', 'nanoseconds')


@functools.lru_cache(maxsize=256)
def _host_name(address: str) -> str:
    # libca reports a server by its host name where the address resolves.
    try:
        return socket.gethostbyaddr(address)[0]
    except (OSError, UnicodeError):
        return address


class PV:
    """An EPICS Process Variable, with pyepics's API and semantics.

    Parameters
    ----------
    pvname : str
        Name of the channel.
    callback : callable or list of callables, optional
        Value callbacks (see :meth:`add_callback`).
    form : {'time', 'ctrl', 'native'}
        Kind of data to request with each value.
    verbose : bool
        Print connection and value messages.
    auto_monitor : None, bool or int
        None: monitor when the element count is below
        ``ca.AUTOMONITOR_MAXLENGTH``; True: monitor with
        ``ca.DEFAULT_SUBSCRIPTION_MASK``; an int: monitor with that event
        mask; False: never.
    count : int, optional
        Largest number of elements to request.
    connection_callback : callable, optional
        ``f(pvname=, conn=, pv=)`` on each connection change.
    connection_timeout : float, optional
        Default seconds to wait for a connection (``ca.DEFAULT_CONNECTION_TIMEOUT``).
    access_callback : callable, optional
        ``f(read_access, write_access, pv=)`` on each access-rights change.
    monitor_delta : float, optional
        Skip monitor updates that change the value by less than this
        (applied in the client; pyepics first tries to set the record's MDEL).
    """

    _fmtsca = ("<PV '%(pvname)s', count=%(count)i, type=%(typefull)s, "
               "access=%(access)s>")
    _fmtarr = ("<PV '%(pvname)s', count=%(count)i/%(nelm)i, "
               "type=%(typefull)s, access=%(access)s>")
    _fields = ('pvname', 'value', 'char_value', 'status', 'ftype', 'chid',
               'host', 'count', 'access', 'write_access', 'read_access',
               'severity', 'timestamp', 'posixseconds', 'nanoseconds',
               'precision', 'units', 'enum_strs', 'monitor_delta',
               'upper_disp_limit', 'lower_disp_limit', 'upper_alarm_limit',
               'lower_alarm_limit', 'lower_warning_limit',
               'upper_warning_limit', 'upper_ctrl_limit', 'lower_ctrl_limit')

    def __init__(self, pvname: str, callback=None, form: str = 'time',
                 verbose: bool = False, auto_monitor=None, count=None,
                 connection_callback=None, connection_timeout=None,
                 access_callback=None, monitor_delta=None):
        self.pvname = pvname.strip()
        self.form = form.lower()
        self.verbose = verbose
        self._auto_monitor = auto_monitor
        self.ftype: int | None = None
        self.connected = False
        self.connection_timeout = (connection_timeout if connection_timeout
                                   is not None else ca.DEFAULT_CONNECTION_TIMEOUT)
        self._user_max_count = count
        self._args: dict[str, Any] = dict.fromkeys(self._fields)
        self._args.update(pvname=self.pvname, count=count, nelm=-1,
                          type='unknown', typefull='unknown', access='unknown',
                          monitor_delta=monitor_delta)
        self._monitor_last_value: Any = None
        self.connection_callbacks = ([connection_callback]
                                     if connection_callback is not None else [])
        self.access_callbacks = ([access_callback]
                                 if access_callback is not None else [])
        self.callbacks: dict = initial_value_callbacks(callback)
        self._put_complete: bool | None = None
        self._monitor = AutoMonitor()
        self._conn_started = False
        self._native: int | None = None
        self._reported_rights: tuple[bool, bool] | None = None
        self._connected_event = threading.Event()
        self._connection = ConnectionClaim()
        self._reference_count = 0
        # The get_pv cache holding this PV (disconnect removes it from there).
        self._cache: dict = _PVcache_
        self.context = ca.current_context()
        self.chid: int | None = None
        channel = ca.context().get_pvs(self.pvname)[0]
        self._channel = channel
        # The client holds these weakly: they live as long as this PV.
        self._conn_token = channel.connection_state_callback.add_callback(
            self._on_connection_state, run=True)
        self._rights_token = channel.access_rights_callback.add_callback(
            self._on_access_rights, run=True)
        if channel.connected and self._connection.claim(True):
            # As libca does for a channel it already has: connected at once.
            self._connection_changed(True)

    # -- events from the client ----------------------------------------------------

    def _on_connection_state(self, channel, state: str) -> None:
        conn = state == 'connected'
        if self._connection.claim(conn):
            self._connection_changed(conn)

    def _connection_changed(self, conn: bool) -> None:
        if conn:
            chan: Any = self._channel.channel
            if chan is None or chan.native_data_type is None:
                return
            self._native = native = int(chan.native_data_type)
            nelm = int(chan.native_data_count or 0)
            self.chid = self._args['chid'] = chan.cid
            self._args['nelm'] = nelm
            self._args['count'] = min(nelm, self._user_max_count or nelm)
            cm: Any = self._channel.circuit_manager
            if cm is not None:
                host, port = cm.circuit.address
                self._args['host'] = f'{_host_name(host)}:{port}'
            self.ftype = _convert.promoted(self.form, native)
            name = dbr.Name(self.ftype).lower()
            self._args['type'] = self._args['typefull'] = name
            self._args['ftype'] = self.ftype
        notify_connection(self.connection_callbacks, self.pvname, conn, self,
                          self.verbose)
        self.connected = conn
        if conn:
            self._report_rights(self._channel.access_rights)
            self._check_auto_monitor()
            self._connected_event.set()
        else:
            self._connected_event.clear()
            self._report_rights(0)

    def _on_access_rights(self, channel, rights) -> None:
        if self.connected:
            self._report_rights(rights)

    def _report_rights(self, rights) -> None:
        read, write = bool(int(rights or 0) & 1), bool(int(rights or 0) & 2)
        self._args['read_access'] = read
        self._args['write_access'] = write
        self._args['access'] = _ACCESS_STRINGS[read + 2 * write]
        if self._reported_rights == (read, write):
            return
        self._reported_rights = (read, write)
        notify_access(self.access_callbacks, read, write, self)

    def _on_monitor(self, sub, response) -> None:
        # The hot path of every update.
        native = self._native
        if native is None:
            return
        args = self._args
        if self.form == 'time' and (native != dbr.CHAR or args['nelm'] == 1):
            # The usual update (one numeric TIME element) is read straight
            # from the payload: no metadata structure, no numpy view, no
            # keyword dict (the keys all exist in args: update in place).
            fields = response.time_scalar()
            ftype = self.ftype
            if fields is not None and ftype is not None:
                status, severity, secs, nsec, value = fields
                if args['monitor_delta'] is not None and self._within_delta(value):
                    return
                posix = secs + dbr.EPICS2UNIX_EPOCH
                args['status'] = status
                args['severity'] = severity
                args['timestamp'] = posix + 1.e-6 * int(1.e-3 * nsec)
                args['posixseconds'] = posix
                args['nanoseconds'] = nsec
                args['ftype'] = ftype
                args['count'] = 1
                args['chid'] = self.chid
                args['pvname'] = self.pvname
                args['value'] = value
                args['char_value'] = _convert.char_value(
                    value, native, 1, ftype, args['precision'],
                    args['enum_strs'])
                if self.verbose:
                    self._announce()
                    return
                # _announce and run_callbacks, inlined (every update).
                callbacks = self.callbacks
                if len(callbacks) == 1:
                    for index, (func, kwargs) in list(callbacks.items()):
                        kwds = args.copy()
                        if kwargs:
                            kwds.update(kwargs)
                        kwds['cb_info'] = (index, self)
                        if callable(func):
                            try:
                                func(**kwds)
                            except Exception:
                                logger.exception('user callback %r raised',
                                                 func)
                elif callbacks:
                    self.run_callbacks()
                return
        data = response.data
        if self.form == 'native' and not len(data):
            return  # pyepics cannot cast an empty plain-type update: dropped
        # The subscription asked for the promoted type: it is self.ftype.
        data_type = self.ftype if self.ftype is not None else int(response.data_type)
        value = _convert.unpack(data, native, args['nelm'])
        kwds = _convert.metadata(response.metadata, data_type)
        kwds['ftype'] = data_type
        kwds['count'] = len(data)
        kwds['chid'] = self.chid
        kwds['pvname'] = self.pvname
        self._on_changes(value, kwds)

    def _within_delta(self, value) -> bool:
        """Whether a monitor_delta skips ``value`` (else it is the new
        reference value)."""
        last = self._monitor_last_value
        if last is not None:
            try:
                if abs(value - last) < self._args['monitor_delta']:
                    return True
            except TypeError:
                pass
        self._monitor_last_value = value
        return False

    def _on_changes(self, value, kwds: dict) -> None:
        args = self._args
        if args.get('monitor_delta') is not None and self._within_delta(value):
            return
        args.update(kwds)
        args['value'] = value
        if 'timestamp' not in kwds:
            args['timestamp'] = time.time()
            args['posixseconds'] = 0
            args['nanoseconds'] = 0
        self._set_charval(value, call_ca=False)
        self._announce()

    def _announce(self) -> None:
        """Print (verbose) and run the callbacks for a new value in args."""
        if self.verbose:
            args = self._args
            now = fmt_time(args['timestamp'])
            ca.write(f"{self.pvname}: {args['char_value']} ({now})")
        if self.callbacks:
            self.run_callbacks()

    # -- auto-monitor --------------------------------------------------------------

    def _check_auto_monitor(self) -> None:
        if not self.connected or self._native is None:
            return
        count = self.count
        if count is None:
            return
        if self._auto_monitor is None:
            self._auto_monitor = count < ca.AUTOMONITOR_MAXLENGTH
        if not self._auto_monitor:
            self._monitor.clear()
            return
        mask = (ca.DEFAULT_SUBSCRIPTION_MASK if self._auto_monitor is True
                else int(self._auto_monitor))
        self._monitor.ensure(
            self._channel, mask,
            _convert.request_class(self.form, self._native),
            self._user_max_count or None, self._on_monitor)

    @property
    def auto_monitor(self):
        """None, True, False or an event mask (see the class docstring)."""
        return self._auto_monitor

    @auto_monitor.setter
    def auto_monitor(self, value) -> None:
        self._auto_monitor = value
        self._check_auto_monitor()

    @property
    def auto_monitor_mask(self):
        """The event mask of the automatic monitor (None when off)."""
        return self._monitor.mask

    def clear_auto_monitor(self) -> None:
        """Turn off auto-monitoring."""
        self.auto_monitor = False

    # -- connection ----------------------------------------------------------------

    def wait_for_connection(self, timeout=None) -> bool:
        """Wait up to ``timeout`` (default ``connection_timeout``) seconds for
        the connection; return whether the PV is connected."""
        if not self.connected:
            self._conn_started = True
            if timeout is None:
                timeout = self.connection_timeout
            timeout = max(0.0, timeout)
            # The client marks the channel ready on its network thread; the
            # connection handling then runs here rather than after a hop to
            # the callback thread (whichever comes first does it, once).
            deadline = time.monotonic() + timeout
            if self._channel.channel_ready.wait(timeout):
                if self._channel.connected and self._connection.claim(True):
                    self._connection_changed(True)
                else:  # the callback thread is handling it: wait for that
                    self._connected_event.wait(max(0.0, deadline - time.monotonic()))
        return self.connected

    def connect(self, timeout=None) -> bool:
        """Wait for the connection; return True once connected."""
        self.wait_for_connection(timeout)
        self._conn_started = True
        return self.connected and self.ftype is not None

    def force_connect(self, pvname=None, chid=None, conn=True, **kws) -> None:
        """Run the connection handling again (callbacks included)."""
        conn = bool(conn and self._channel.connected)
        self._connection.force(conn)
        self._connection_changed(conn)

    def force_read_access_rights(self) -> None:
        """Refresh ``access``/``read_access``/``write_access`` from the client."""
        rights = int(self._channel.access_rights or 0) if self.connected else 0
        read, write = bool(rights & 1), bool(rights & 2)
        self._args['read_access'], self._args['write_access'] = read, write
        self._args['access'] = _ACCESS_STRINGS[read + 2 * write]

    def reconnect(self) -> bool:
        """Redo the connection handling and wait for it; return connected."""
        self._monitor.clear()
        self.connected = False
        self._connected_event.clear()
        self._conn_started = False
        self._connection.forget()
        if self._channel.connected and self._connection.claim(True):
            self._connection_changed(True)
        return self.wait_for_connection()

    def poll(self, evt: float = 1.e-4, iot: float = 1.0) -> None:
        """Same as :func:`cawire.pyepics.ca.poll`."""
        ca.poll(evt=evt, iot=iot)

    # -- reading -------------------------------------------------------------------

    def _read(self, form: str, count, timeout, as_numpy: bool) -> dict | None:
        """One read of ``form``; the pyepics metadata dict, or None."""
        return read_metadata(self._channel, self.pvname, self.chid, form,
                             self._native, self._args['nelm'], count,
                             timeout, as_numpy)

    def get(self, count=None, as_string: bool = False, as_numpy: bool = True,
            timeout=None, with_ctrlvars: bool = False, use_monitor: bool = True):
        """The current value, or None if not connected or timed out.

        ``as_string`` gives the string form (enum string, formatted number,
        char array as text); ``use_monitor`` returns the value of the last
        monitor update when the PV is auto-monitored.
        """
        data = self.get_with_metadata(count=count, as_string=as_string,
                                      as_numpy=as_numpy, timeout=timeout,
                                      with_ctrlvars=with_ctrlvars,
                                      use_monitor=use_monitor)
        return data['value'] if data is not None else None

    def get_with_metadata(self, count=None, as_string: bool = False,
                          as_numpy: bool = True, timeout=None,
                          with_ctrlvars: bool = False, form=None,
                          use_monitor: bool = True, as_namespace: bool = False):
        """The value with its metadata as a dict (or a namespace), or None."""
        if not self.wait_for_connection(timeout=timeout):
            return None
        if form is None:
            form = self.form
            ftype = self.ftype
        else:
            ftype = _convert.promoted(form, self._native or 0)
        # (reading the units property fetches the control fields, as in pyepics)
        if with_ctrlvars and self.units is None and form == 'ctrl':
            self.get_ctrlvars()
        cached = self._args['value']
        try:
            cached_length = len(cached)
        except TypeError:
            cached_length = 1
        if (not use_monitor or not self.auto_monitor or ftype != self.ftype
                or cached is None
                or (count is not None and count > cached_length)):
            if count is None and self._args['count'] != self._args['nelm']:
                count = self._args['count']
            metad = self._read(form, count, timeout, as_numpy)
            if metad is None:
                return None
            self._args.update(metad)
            if with_ctrlvars and form != 'ctrl':
                metad = self._args.copy()
            val = metad['value']
        else:
            metad = self._args.copy()
            val = cached
        if as_string:
            metad['value'] = self._set_charval(val, force_long_string=True)
        elif self._args['nelm'] <= 1 or val is None:
            pass
        else:
            metad['value'] = _convert.array_value(val, count, as_numpy)
        if as_namespace:
            return SimpleNamespace(**metad)
        return metad

    def get_ctrlvars(self, timeout=5, warn=True):
        """Read the control fields (limits, units, precision, enum strings)."""
        if not self.wait_for_connection():
            return None
        kwds = self._read('ctrl', 1, timeout, True)
        if kwds is not None:
            kwds.pop('value', None)
            self._args.update(kwds)
        self.force_read_access_rights()
        return kwds

    def get_timevars(self, timeout=5, warn=True):
        """Read status, severity and time stamp."""
        if not self.wait_for_connection():
            return None
        kwds = self._read('time', 1, timeout, True)
        if kwds is not None:
            kwds.pop('value', None)
            self._args.update(kwds)
        return kwds

    def get_all_metadata_blocking(self, timeout):
        """All metadata (time and control fields) except the value."""
        if self._args['status'] is None:
            self.get_timevars(timeout=timeout)
        self.get_ctrlvars(timeout=timeout)
        md = self._args.copy()
        md.pop('value', None)
        return md

    def get_all_metadata_callback(self, callback, *, timeout):
        """Call ``callback(pvname, md)`` from a thread with all metadata."""
        def fetch():
            call_user(callback, self.pvname,
                      self.get_all_metadata_blocking(timeout=timeout))
        threading.Thread(target=fetch, daemon=True,
                         name=f'metadata {self.pvname}').start()

    # -- writing -------------------------------------------------------------------

    def put(self, value, wait: bool = False, timeout: float = 30.0,
            use_complete: bool = False, callback=None, callback_data=None):
        """Write ``value``.

        Returns 1 when written (with ``wait``, when the server reports
        completion), -1 when ``wait`` timed out, None when not connected.
        With ``callback`` (or ``use_complete``) the server's completion calls
        ``callback(pvname=, data=callback_data)`` (or the keywords of a dict
        ``callback_data``) and sets :attr:`put_complete`.
        """
        if not self.wait_for_connection():
            return None
        native = self._native if self._native is not None else dbr.DOUBLE
        if native == dbr.ENUM and isinstance(value, str):
            if self._args['enum_strs'] is None:
                self.get_ctrlvars()
            strs = self._args['enum_strs'] or ()
            if value in strs:
                value = list(strs).index(value)
        data, _ = _convert.put_data(value, native, self._args['nelm'])
        check_write_access(self._channel, self.pvname)
        notify = bool(wait or callable(callback) or use_complete)
        self._put_complete = False if use_complete else None
        if not notify:
            write_data(self._channel, data)
            return dbr.ECA_NORMAL
        done = threading.Event()

        def completed(response):
            self._put_complete = True
            done.set()
            if callable(callback):
                kwargs = (callback_data if isinstance(callback_data, dict)
                          else {'data': callback_data})
                call_user(callback, pvname=self.pvname, **kwargs)

        write_data(self._channel, data, completed)
        if wait and not done.wait(timeout):
            return -dbr.ECA_NORMAL
        return dbr.ECA_NORMAL

    @property
    def put_complete(self):
        """Whether the last put with ``use_complete`` has completed."""
        return self._put_complete

    # -- callbacks -----------------------------------------------------------------

    def run_callbacks(self) -> None:
        """Call every value callback with the current data."""
        callbacks = self.callbacks
        for index in sorted(callbacks) if len(callbacks) > 1 else list(callbacks):
            self.run_callback(index)

    def run_callback(self, index) -> None:
        """Call one value callback with the current data: the keywords are
        the PV's fields, the callback's own keywords and ``cb_info=(index,
        pv)``."""
        run_value_callback(self.callbacks, index, self._args, self)

    def add_callback(self, callback=None, index=None, run_now: bool = False,
                     with_ctrlvars: bool = True, **kw):
        """Add a value callback (with keywords ``kw`` passed on each call);
        return its index."""
        if callable(callback):
            index = add_value_callback(self.callbacks, callback, index, kw)
        if with_ctrlvars and self.connected:
            self.get_ctrlvars()
        if run_now:
            self.get(as_string=True)
            if self.connected:
                self.run_callback(index)
        return index

    def remove_callback(self, index=None) -> None:
        """Remove the value callback ``index``."""
        self.callbacks.pop(index, None)

    def clear_callbacks(self, with_access_callback: bool = False,
                        with_connect_callback: bool = False) -> None:
        """Remove every value callback (and optionally the others)."""
        self.callbacks.clear()
        if with_access_callback:
            self.access_callbacks = []
        if with_connect_callback:
            self.connection_callbacks = []

    # -- string form and properties -------------------------------------------------

    def _set_charval(self, val, call_ca: bool = True,
                     force_long_string: bool = False):
        native = self._native
        if val is None or native is None:
            self._args['char_value'] = 'None'
            return 'None'
        count = self.count if self._args['count'] is not None else 1
        if call_ca and count <= 1:
            if native in (dbr.FLOAT, dbr.DOUBLE) and self._args['precision'] is None:
                self.get_ctrlvars()
            elif native == dbr.ENUM and self._args['enum_strs'] in ([], None):
                self.get_ctrlvars()
        cval = _convert.char_value(val, native, count, self._args['ftype'],
                                   self._args['precision'],
                                   self._args['enum_strs'], force_long_string)
        self._args['char_value'] = cval
        return cval

    def _getarg(self, arg):
        if self._args['value'] is None:
            self.get()
        if self._args[arg] is None:
            if arg in _TIME_KEYS:
                self.get_timevars(timeout=1, warn=False)
            else:
                self.get_ctrlvars(timeout=1, warn=False)
        return self._args.get(arg, None)

    @property
    def value(self):
        """The value (the monitor's latest when auto-monitored)."""
        return self._getarg('value')

    @value.setter
    def value(self, val) -> None:
        self.put(val)

    @property
    def char_value(self) -> Any:
        """The value as a string."""
        self._getarg('char_value')
        return self._set_charval(self._getarg('value'))

    status = property(lambda self: self._getarg('status'), doc='alarm status')
    severity = property(lambda self: self._getarg('severity'), doc='alarm severity')
    timestamp = property(lambda self: self._getarg('timestamp'),
                         doc='POSIX time of the last update')
    posixseconds = property(lambda self: self._getarg('posixseconds'),
                            doc='integer seconds of the time stamp')
    nanoseconds = property(lambda self: self._getarg('nanoseconds'),
                           doc='nanoseconds of the time stamp')
    precision = property(lambda self: self._getarg('precision'),
                         doc='digits after the decimal point')
    units = property(lambda self: self._getarg('units'), doc='engineering units')
    enum_strs = property(lambda self: self._getarg('enum_strs'),
                         doc='enum state strings')
    host = property(lambda self: self._getarg('host'), doc="server 'host:port'")
    read_access = property(lambda self: self._getarg('read_access'),
                           doc='True if the client may read')
    write_access = property(lambda self: self._getarg('write_access'),
                            doc='True if the client may write')
    access = property(lambda self: self._getarg('access'),
                      doc="'read/write', 'read-only', ...")
    monitor_delta = property(lambda self: self._getarg('monitor_delta'),
                             doc='client-side monitor deadband (None: every update)')
    upper_disp_limit = property(lambda self: self._getarg('upper_disp_limit'),
                                doc='upper display limit')
    lower_disp_limit = property(lambda self: self._getarg('lower_disp_limit'),
                                doc='lower display limit')
    upper_alarm_limit = property(lambda self: self._getarg('upper_alarm_limit'),
                                 doc='upper alarm (HIHI) limit')
    lower_alarm_limit = property(lambda self: self._getarg('lower_alarm_limit'),
                                 doc='lower alarm (LOLO) limit')
    upper_warning_limit = property(lambda self: self._getarg('upper_warning_limit'),
                                   doc='upper warning (HIGH) limit')
    lower_warning_limit = property(lambda self: self._getarg('lower_warning_limit'),
                                   doc='lower warning (LOW) limit')
    upper_ctrl_limit = property(lambda self: self._getarg('upper_ctrl_limit'),
                                doc='upper control limit')
    lower_ctrl_limit = property(lambda self: self._getarg('lower_ctrl_limit'),
                                doc='lower control limit')

    @property
    def char_status(self) -> str:
        """The alarm status as its name ('NO_ALARM', 'HIHI'...)."""
        return dbr.ALARM_STATUS_NAMES[self.status]

    @property
    def char_severity(self) -> str:
        """The alarm severity as its name ('NO_ALARM', 'MAJOR'...)."""
        return dbr.ALARM_SEVERITY_NAMES[self.severity]

    @property
    def type(self) -> str:
        """Type name of the requested form ('time_double')."""
        return self._args['type']

    @property
    def typefull(self) -> str:
        """Type name of the requested form (as in pyepics, equal to ``type``)."""
        return self._args['typefull']

    @property
    def count(self):
        """Number of elements (of the last update for arrays)."""
        if self._args['count'] is not None:
            return self._args['count']
        return self._getarg('count')

    @property
    def nelm(self):
        """Native element count of the channel."""
        return self._args['nelm']

    @property
    def info(self):
        """A paragraph describing the PV (what ``cainfo`` prints)."""
        return info_text(self)

    def __repr__(self) -> str:
        if self.connected:
            fmt = self._fmtsca if self.count == 1 else self._fmtarr
            return fmt % self._args
        return f"<PV '{self.pvname}': not connected>"

    def __eq__(self, other) -> bool:
        try:
            return self.chid == other.chid and self.pvname == other.pvname
        except AttributeError:
            return False

    __hash__ = object.__hash__

    def disconnect(self, deepclean: bool = True) -> None:
        """Stop all callbacks and forget this PV (``get_pv`` makes a new one)."""
        self._connection.stop()
        self.connected = False
        self._connected_event.clear()
        with _cache_lock:
            key = (self.pvname, self.form, self.context)
            if self._cache.get(key) is self:
                del self._cache[key]
        if deepclean:
            self._channel.connection_state_callback.remove_callback(self._conn_token)
            self._channel.access_rights_callback.remove_callback(self._rights_token)
        self._monitor.clear()
        self.clear_callbacks(True, True)
        self._args = dict.fromkeys(self._fields)


#: The class ``get_pv`` creates (pyepics lets advanced users replace it).
default_pv_class = PV


def get_pv(pvname, form: str = 'time', connect: bool = False, context=None,
           timeout: float = 5.0, connection_callback=None, access_callback=None,
           callback=None, verbose: bool = False, count=None, auto_monitor=None,
           monitor_delta=None):
    """The cached PV for ``(pvname, form)`` (created when new).

    With ``connect``, waits up to ``timeout`` seconds and prints
    ``cannot connect to <name>`` on failure, as pyepics does.
    """
    return cached_pv(_PVcache_, default_pv_class, pvname, form=form,
                     connect=connect, timeout=timeout,
                     connection_callback=connection_callback,
                     access_callback=access_callback, callback=callback,
                     verbose=verbose, count=count, auto_monitor=auto_monitor,
                     monitor_delta=monitor_delta)


def cached_pv(cache: dict, pv_class, pvname, *, form: str = 'time',
              connect: bool = False, timeout: float = 5.0,
              connection_callback=None, access_callback=None, callback=None,
              verbose: bool = False, count=None, auto_monitor=None,
              monitor_delta=None):
    """:func:`get_pv` on a given ``cache`` dict making ``pv_class`` PVs
    (the ophyd control layer keeps a cache of its own)."""
    if form not in ('native', 'time', 'ctrl'):
        form = 'time'
    if isinstance(pvname, PV):
        pvname = pvname.pvname
    key = (pvname, form, ca.current_context())
    thispv: Any
    with _cache_lock:
        thispv = cache.get(key)
        created = thispv is None
        if created:
            thispv = pv_class(
                pvname, form=form, callback=callback,
                connection_callback=connection_callback,
                access_callback=access_callback, connection_timeout=timeout,
                count=count, verbose=verbose, auto_monitor=auto_monitor,
                monitor_delta=monitor_delta)
            thispv._cache = cache
            cache[key] = thispv
    if not created:
        if connection_callback is not None:
            if thispv.connected:
                connection_callback(pvname=thispv.pvname,
                                    conn=thispv.connected, pv=thispv)
            thispv.connection_callbacks.append(connection_callback)
        if access_callback is not None:
            if thispv.connected:
                access_callback(thispv.read_access, thispv.write_access,
                                pv=thispv)
            thispv.access_callbacks.append(access_callback)
        if callback is not None:
            thispv.run_callback(thispv.add_callback(callback))
        if auto_monitor and not thispv.auto_monitor:
            thispv.auto_monitor = auto_monitor
    if connect and not thispv.wait_for_connection(timeout=timeout):
        ca.write(f'cannot connect to {pvname}')
    return thispv


def clear_pvcache() -> None:
    """Disconnect and forget every PV made by :func:`get_pv`."""
    with _cache_lock:
        pvs = list(_PVcache_.values())
        _PVcache_.clear()
    for thispv in pvs:
        thispv.disconnect()


ca.register_clear_cache(clear_pvcache)
