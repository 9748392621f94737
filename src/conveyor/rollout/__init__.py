"""Progressive delivery: strategies (canary, blue-green, shadow, A/B), the traffic router,
the analysis of candidate vs champion, and the controller state machine kept in the store.

Modules: ``strategies`` (plans of steps, and the registry of strategies by name), ``router``
(which arm answers a request), ``evidence`` (what a step is judged on) and ``log_evidence``
(that evidence from the inference log), ``checks`` and ``stats`` (each check's verdict),
``verdicts`` (the verdict types), ``analysis`` (the checks that apply, the step's decision),
``judge`` (a running step's verdict now), ``state`` (the state machine), ``records`` (rollouts
and their events in the store), ``lease`` (one leader), ``controller`` (commands and the
leader's tick), ``loop`` (the leader's thread), ``registry_moves`` (who may roll out,
promotion, rejection), ``wiring`` (a process's controller), ``webhooks``, ``errors``.
"""
