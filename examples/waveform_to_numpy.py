#!/usr/bin/env python3
"""Read a waveform into numpy, print statistics, optionally plot it.

    python waveform_to_numpy.py PV [--png plot.png]

The value arrives as a numpy array that views the received bytes (no copy).
With --png and matplotlib installed, the waveform is saved as an image (no
window is opened); without matplotlib the statistics are printed anyway.
"""
import argparse
import sys

import numpy as np

from cawire.threading.client import Context


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('pv', metavar='PV')
    parser.add_argument('--png', metavar='FILE', help='save a plot here')
    parser.add_argument('--timeout', type=float, default=5.0,
                        metavar='SECONDS')
    args = parser.parse_args(argv)

    ctx = Context()
    pv, = ctx.get_pvs(args.pv)
    response = pv.read(data_type='control', timeout=args.timeout)
    data = np.asarray(response.data, dtype=float)
    units = getattr(response.metadata, 'units', b'')
    if isinstance(units, bytes):
        units = units.decode('latin-1')
    ctx.disconnect()

    print(f'{args.pv}: {data.size} elements {units}'.rstrip())
    if data.size:
        print(f'min {data.min():g}  max {data.max():g}  mean {data.mean():g}  '
              f'std {data.std():g}')
    if args.png:
        try:
            import matplotlib
        except ImportError:
            print('matplotlib is not installed: no plot', file=sys.stderr)
            return 0
        matplotlib.use('Agg')          # files only, no display needed
        import matplotlib.pyplot as plt
        figure, axes = plt.subplots(figsize=(8, 3))
        axes.plot(data)
        axes.set_title(args.pv)
        axes.set_xlabel('element')
        axes.set_ylabel(units or 'value')
        figure.tight_layout()
        figure.savefig(args.png, dpi=100)
        print(f'plot saved to {args.png}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
