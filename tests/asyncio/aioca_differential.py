"""Scripts run under aioca and under cawire.aioca (each in a subprocess with
the session's EPICS environment); they print one JSON line per result so
that the two outputs can be compared line by line."""
import json
import subprocess
import sys
import textwrap

HEADER = '''
import asyncio, json, math, sys
if sys.argv[1] == 'aioca':
    import aioca as A
else:
    import cawire.aioca as A

def describe(value):
    """repr, type, value and CA attributes (times as their presence)."""
    out = {'type': type(value).__name__, 'repr': repr(value)}
    for field in A.ca_extra_fields:
        if field == 'datetime' or not hasattr(value, field):
            continue
        item = getattr(value, field)
        if field in ('timestamp', 'raw_stamp'):
            item = 'present' if item else 'zero'
        elif isinstance(item, float) and math.isnan(item):
            item = 'nan'
        elif isinstance(item, tuple):
            item = list(item)
        out[field] = item
    if hasattr(value, 'dtype'):
        out['dtype'] = str(value.dtype)
        out['value'] = value.tolist()
    elif isinstance(value, bytes):
        out['value'] = value.decode('latin-1')
    elif isinstance(value, float) and math.isnan(value):
        out['value'] = 'nan'
    else:
        out['value'] = value
    return out

def emit(*items):
    print(json.dumps(items, default=str), flush=True)
'''


def run_both(body, env, timeout=60.0):
    """Run ``body`` (async def main() ... ) under both libraries; return
    their stdout lines and stderr."""
    script = HEADER + textwrap.dedent(body) + '\nasyncio.run(main())\n'
    results = {}
    for module in ('aioca', 'cawire'):
        process = subprocess.run(
            [sys.executable, '-c', script, module], env=env,
            capture_output=True, text=True, timeout=timeout)
        assert process.returncode == 0, (module, process.stderr[-3000:])
        results[module] = [json.loads(line)
                           for line in process.stdout.splitlines()]
    return results['aioca'], results['cawire']
