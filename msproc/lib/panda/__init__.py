"""ORM-free helpers for running group attempts on PanDA through BPS and iDDS.

- :mod:`.client`: the PanDA/iDDS connection (environment, token, guarded calls).
- :mod:`.states`: iDDS request/transform rows -> one workflow summary.
- :mod:`.bpsconfig`: the BPS submit configuration of one group attempt.
- :mod:`.fake_server`: a fake PanDA server with its iDDS relay, for tests.
"""
