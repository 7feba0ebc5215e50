"""SigV4 request signing for Bedrock, by botocore's signer (imported on first use: the Lambda runtime
ships botocore; locally `pip install switchboard-gateway[aws]`). Credentials are passed in, never
resolved here."""

from __future__ import annotations

from switchboard.values import AwsCredentials


def sigv4_headers(
    url: str, content: bytes, headers: dict[str, str], credential: AwsCredentials, region: str
) -> list[tuple[str, str]]:
    """The request headers plus SigV4's (Authorization, X-Amz-Date, X-Amz-Security-Token), signed by
    botocore exactly as boto3 signs bedrock-runtime calls (service `bedrock`)."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials as BotoCredentials

    aws_request = AWSRequest(method="POST", url=url, data=content, headers=headers)
    SigV4Auth(
        BotoCredentials(credential.access_key, credential.secret_key, credential.token), "bedrock", region
    ).add_auth(aws_request)
    return list(aws_request.headers.items())
