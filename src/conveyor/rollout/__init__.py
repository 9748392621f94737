"""Progressive delivery: strategies (canary, blue-green, shadow, A/B), the traffic router,
the analysis of candidate vs champion, and the controller state machine kept in the store.

Modules: ``strategies`` (plans of steps), ``router`` (which arm answers a request),
``evidence`` (what a step is judged on) and ``logged`` (that evidence from the inference
log), ``analysis`` and ``stats`` (checks and the step's decision), ``state`` (the state
machine), ``records`` (rollouts and their events in the store), ``lease`` (one leader),
``controller`` (commands and the leader's tick), ``loop`` (the leader's thread), ``outcome``
(registry moves), ``webhooks``, ``errors``.
"""
