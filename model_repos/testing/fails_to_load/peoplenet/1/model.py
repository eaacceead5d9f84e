"""Test-only model that refuses to load: the server must exit and the suite say why."""


class TritonPythonModel:
    def initialize(self, args: dict) -> None:
        raise RuntimeError("deliberate load failure (model_repos/testing/fails_to_load)")

    def execute(self, requests: list) -> list:
        raise AssertionError("never loaded")
