"""SigV4 signing of the portal's object store client, against AWS's published example and against botocore."""

from __future__ import annotations

from datetime import UTC, datetime

from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from app.portal.s3 import S3Settings, signature_headers

# The "GET Object" example of the S3 API reference, "Signature Calculations for the Authorization Header".
EXAMPLE = S3Settings("https://examplebucket.s3.amazonaws.com", "examplebucket", "us-east-1",
                     "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")  # fmt: skip
EXAMPLE_TIME = datetime(2013, 5, 24, tzinfo=UTC)


def test_get_object_example_of_the_s3_reference_signs_identically() -> None:
    headers = signature_headers(
        "GET", "examplebucket.s3.amazonaws.com", "/test.txt", {"Range": "bytes=0-9"}, b"", EXAMPLE, EXAMPLE_TIME
    )
    assert headers["Authorization"] == (
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
        "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
        "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
    )


def test_a_put_with_a_body_signs_as_botocore_does() -> None:
    settings = S3Settings("https://127.0.0.1:9000", "portal", "eu-central-1", "AKIDPORTAL", "s3cr3t/key+value")
    body = b"SALUSPM1" + bytes(range(256))
    request = AWSRequest(
        method="PUT", url="https://127.0.0.1:9000/portal/envelopes/AbC-_1", data=body,
        headers={"Content-Type": "application/octet-stream"},
    )  # fmt: skip
    S3SigV4Auth(Credentials(settings.access_key, settings.secret_key), "s3", settings.region).add_auth(request)
    # botocore signs at its own "now"; ours signs at the same moment, read back from its X-Amz-Date.
    moment = datetime.strptime(request.headers["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    ours = signature_headers(
        "PUT", "127.0.0.1:9000", "/portal/envelopes/AbC-_1", {"Content-Type": "application/octet-stream"}, body,
        settings, moment,
    )  # fmt: skip
    assert ours["x-amz-content-sha256"] == request.headers["X-Amz-Content-SHA256"]
    assert ours["Authorization"] == request.headers["Authorization"]
