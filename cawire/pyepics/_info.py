"""The text pyepics prints for a PV: ``PV.info`` / ``cainfo`` and time stamps."""
from __future__ import annotations

import time

_INFO_FIELDS = ('char_value', 'count', 'nelm', 'type', 'units', 'precision',
                'host', 'access', 'monitor_delta', 'status', 'char_status',
                'severity', 'char_severity', 'timestamp', 'posixseconds',
                'nanoseconds', 'upper_ctrl_limit', 'lower_ctrl_limit',
                'upper_disp_limit', 'lower_disp_limit', 'upper_alarm_limit',
                'lower_alarm_limit', 'upper_warning_limit',
                'lower_warning_limit')


def fmt_time(tstamp: float | None = None) -> str:
    """Local time with five decimals, as pyepics prints time stamps."""
    if tstamp is None:
        tstamp = time.time()
    tstamp, frac = divmod(tstamp, 1)
    return '%s.%5.5i' % (time.strftime('%Y-%m-%d %H:%M:%S',
                                       time.localtime(tstamp)),
                         round(1.e5 * frac))


def info_text(pv):
    """The multi-line description of ``pv`` (None if it cannot connect)."""
    if not pv.wait_for_connection():
        return None
    pv.get_ctrlvars()
    args = pv._args
    mod, xtype = 'native', args['typefull']
    if '_' in xtype:
        mod, xtype = xtype.split('_')
    fmt = '{val:d}'
    if xtype in ('float', 'double'):
        fmt = '{val:g}'
    elif xtype in ('string', 'char'):
        fmt = '{val:s}'
    pv._set_charval(args['value'], call_ca=False)
    out = [f'== {pv.pvname}  ({mod}_{xtype}) ==']
    fields = {}
    if pv.count == 1:
        fields['value'] = fmt.format(val=args['value'])
    else:
        ext = ',....' if pv.count > 10 else ''
        aval = ('unknown',)
        try:
            aval = [fmt.format(val=args['value'][i])
                    for i in range(min(5, pv.count))]
        except ValueError:
            aval = [repr(args['value'][i]) for i in range(min(5, pv.count))]
        except TypeError:
            pass
        if isinstance(aval, (list, tuple)):
            aval = ','.join(aval)
        fields['value'] = f' array  [{aval}{ext}]'
    for name in _INFO_FIELDS:
        try:
            att = getattr(pv, name)
        except Exception:
            continue
        if att is None:
            continue
        if name == 'timestamp':
            att = f'{att:.3f} ({fmt_time(att)})'
        elif name == 'char_value':
            att = f"'{att}'"
        fields[name] = str(att)
    for key, val in fields.items():
        width = 20 if len(key) > 14 else 15
        out.append(f'   {key:{width}s} = {val}')
    if xtype == 'enum':
        out.append('   enum strings: ')
        for index, name in enumerate(pv.enum_strs):
            out.append(f'       {index} = {name}')
    if pv._monitor.active:
        out.append(f'   PV is internally monitored, with '
                   f'{len(pv.callbacks)} user-defined callbacks')
        for index in sorted(pv.callbacks):
            func = pv.callbacks[index][0]
            name = getattr(func, '__name__', repr(func))
            code = getattr(func, '__code__', None)
            out.append(f"      {name} in file '{getattr(code, 'co_filename', '?')}'")
    else:
        out.append('   PV is NOT internally monitored')
    out.append('=============================')
    return '\n'.join(out)
