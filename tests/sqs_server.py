"""SQS for the tests: a queue on moto's server (tests/s3_server.py starts it; S3 and SQS are the same server on
127.0.0.1), with a bucket's event notifications sent to it as S3 sends them."""

from __future__ import annotations

import json
import time
from typing import Any

from s3_server import client


def sqs_client(endpoint: str) -> Any:
    return client(endpoint, "sqs")


def notifying_queue(s3: Any, sqs: Any, bucket: str, name: str, *, visibility: int = 30) -> str:
    """A queue that receives the bucket's ObjectCreated notifications (moto's server delivers them, the test
    event first, as S3 does); its URL."""
    url = sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": str(visibility)})["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    s3.put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={"QueueConfigurations": [{"QueueArn": arn, "Events": ["s3:ObjectCreated:*"]}]},
    )
    return str(url)


def counts(sqs: Any, url: str) -> tuple[int, int]:
    """(visible, in flight) messages of the queue."""
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    found = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
    return int(found[names[0]]), int(found[names[1]])


def wait_empty(sqs: Any, url: str, seconds: float = 15) -> tuple[int, int]:
    """Wait for the queue to hold no message at all (visible or in flight); what it holds then."""
    deadline = time.monotonic() + seconds
    while True:
        held = counts(sqs, url)
        if held == (0, 0) or time.monotonic() > deadline:
            return held
        time.sleep(0.1)


def s3_event(bucket: str, key: str, size: int, etag: str, *, event: str = "ObjectCreated:Put") -> dict[str, Any]:
    """An S3 event notification as S3 writes it (the key URL-encoded, + for a space)."""
    from urllib.parse import quote_plus

    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": "us-east-1",
                "eventName": event,
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
                    "object": {"key": quote_plus(key, safe="/"), "size": size, "eTag": etag},
                },
            }
        ]
    }


def send(sqs: Any, url: str, body: Any) -> None:
    sqs.send_message(QueueUrl=url, MessageBody=body if isinstance(body, str) else json.dumps(body))
