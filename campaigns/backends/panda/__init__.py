"""The PanDA execution backend: running group attempts on PanDA through BPS and iDDS.

- :mod:`.client`: the PanDA/iDDS connection (environment, token, guarded calls).
- :mod:`.states`: iDDS request/transform rows -> one workflow summary.
- :mod:`.bpsconfig`: the BPS submit configuration of one group attempt.
- :mod:`.backend`: the execution backend itself (``PandaExecutionBackend``).

The fake PanDA server the tests run against is ``tests/panda/fake_server.py``.
"""
