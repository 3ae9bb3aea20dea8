"""Command-line tools: cawire-get, cawire-put and cawire-monitor.

Ports of EPICS base's caget, caput and camonitor on the cawire threading
client, with the same options and byte-identical output.  Each tool is a
module with ``main()`` (the console script) and ``run(args)``; they can also
be started as ``python -m cawire.commandline.get`` (``.put``, ``.monitor``,
``.info``).
"""
