"""Session fixtures of the Lambda harness: app.py synthesized once, the read-only runtime image (bundles built on
first use, once each), moto and Lambda's Invoke API on loopback, and the stand-ins the templates are rendered to."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.lambda_runtime.harness import Deployment
from tests.lambda_runtime.image import RuntimeImage
from tests.lambda_runtime.runtime_api import InvokeApi
from tests.lambda_runtime.stand_ins import StandIns
from tests.loopback import moto_server
from tests.lambda_runtime.synthesized import SynthesizedFunction, synthesize


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> list[SynthesizedFunction]:
    return synthesize(tmp_path_factory.mktemp("cdk.out"))


@pytest.fixture(scope="session")
def image() -> Iterator[RuntimeImage]:
    made = RuntimeImage()
    yield made
    made.close()


@pytest.fixture(scope="session")
def lambda_api() -> Iterator[InvokeApi]:
    api = InvokeApi()
    yield api
    api.close()


@pytest.fixture(scope="session")
def deployment(synthesized, image, lambda_api) -> Iterator[Deployment]:
    with moto_server() as endpoint:
        stand_ins = StandIns(endpoint, lambda_api.endpoint, image.root)
        yield Deployment(image, stand_ins, lambda_api, synthesized)
        stand_ins.close()


def by_kind(functions: list[SynthesizedFunction], kind: str) -> list[SynthesizedFunction]:
    return [function for function in functions if function.kind == kind]
