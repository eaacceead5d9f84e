"""Runs -> passed / red / inconclusive: the verdict rules over recorded runs (`verdicts`),
the gate over run sets with its preflight and sequential check (`gate`, `gate_text`), the
runner's own move between baseline and check (`runner_shift`), A/B in turns (`ab`), and the
significance of paired rounds the concurrency assertions use (`significance`). Everything
here reads runs that pnsuite.measure measured; nothing in pnsuite.measure imports it."""
