"""The teacher: the large model that labels sampled events, and what is needed to trust its answers.

:mod:`~streams.teacher.client` calls the endpoint (retries, a circuit breaker from
:mod:`~streams.teacher.circuit`, costs from :mod:`~streams.teacher.cost`);
:mod:`~streams.teacher.labeler` labels a batch while riding out outages;
:mod:`~streams.teacher.batch` is the Batch API client and
:mod:`~streams.teacher.batch_poll` reconciles its jobs with the store.
:mod:`~streams.teacher.prompts` builds the messages, :mod:`~streams.teacher.completions`
reads the answers back, and :mod:`~streams.teacher.filters`,
:mod:`~streams.teacher.labels` and :mod:`~streams.teacher.confidence` say what an
answer is worth.
"""
