"""Fixtures the adapter tests share: moto's SQS server, fake AWS credentials, queues."""

from tests.adapters.sqs_support import (  # noqa: F401 (fixtures)
    aws_env_fixture,
    make_queue_fixture,
    moto_endpoint_fixture,
    queue_fixture,
    sqs_client_fixture,
)
