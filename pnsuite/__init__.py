"""pnsuite: the library behind the PeopleNet-on-Triton test suite.

Sub-packages by concern: `server` (Triton's lifecycle and launchers), `client` (requests,
shared memory, load), `detection` (DetectNet_v2 codec, box matching, goldens), `models`
(the stand-ins that model repositories serve), `measure` (the measured run, Triton's
statistics, what a run records), `verdict` (runs -> verdicts: the gate, A/B), `history`
(series over builds, change points), `platform` (Jetson), `repository` (model configs and
files), `cli` (the commands).
`ownership` answers "is this ours?" for processes, shm regions and containers; every
user-facing error derives from `errors.SuiteError`.

This package imports nothing outside the standard library, so that
`python3 -m pnsuite.cli.jetson` runs on a Jetson before the suite's venv exists.
"""
