"""A loopback stand-in for CloudWatch's OTLP endpoints that checks every request's SigV4
signature independently of the crate's signer, with botocore's.

AWS takes traces at https://xray.<region>.amazonaws.com/v1/traces (SigV4 service `xray`) and
metrics at https://monitoring.<region>.amazonaws.com/v1/metrics (service `monitoring`). This
server plays either on 127.0.0.1 over plain HTTP. Every POST (any path but /_control/) is
checked as AWS checks it; a request that fails gets 403 with an AWS-style JSON error, one that
passes gets the next queued answer (by default 200, an empty application/x-protobuf body).
Every POST is recorded, passed or not, with the reason it failed.

    python sigv4_otlp_endpoint.py --service xray --region us-east-1 \
        --access-key-id AKIA... --secret-access-key ... [--session-token ...] [--port 0]

prints `listening 127.0.0.1:PORT` as its first line. The control endpoints, unsigned:

    POST /_control/answers   JSON [{"status": 200, "body_base64": "", "content_type":
                             "application/x-protobuf", "headers": {"Retry-After": "0"}}, ...]
                             queued after any still waiting; every field may be left out
    GET  /_control/received  JSON [{"path", "verified", "reason", "headers", "body_base64"}]
                             every request so far, the body as received (gzip or not)
"""

import argparse
import base64
import collections
import datetime
import hashlib
import hmac
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from botocore.auth import SIGV4_TIMESTAMP, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.compat import HTTPHeaders
from botocore.credentials import Credentials

import stdin_lifeline

# AWS refuses a request whose date is more than 15 minutes from its clock
# (RequestTimeTooSkewed, or "Signature expired" from the JSON services).
MAX_SKEW = datetime.timedelta(minutes=15)
ALGORITHM = "AWS4-HMAC-SHA256"
CONTROL = "/_control/"
DEFAULT_ANSWER = {"status": 200, "body_base64": "", "content_type": "application/x-protobuf"}


class Rejected(Exception):
    """A request AWS would refuse: `kind` is the error's `__type`, the message says why."""

    def __init__(self, kind, message):
        super().__init__(message)
        self.kind = kind


class _ExactlyTheSignedHeaders(SigV4Auth):
    """botocore's SigV4 signer, canonicalising exactly the headers the client signed.

    When it signs, botocore leaves out a fixed list (SIGNED_HEADERS_BLACKLIST: user-agent,
    traceparent, tracestate, baggage, connection, expect, te...); AWS verifies whatever the
    request's SignedHeaders name, and the Rust aws-sigv4 crate signs all but authorization,
    user-agent, x-amzn-trace-id and transfer-encoding. Only the choice of headers is ours:
    their canonical form, the hashes and the key derivation stay botocore's.
    """

    def headers_to_sign(self, request):
        headers = HTTPHeaders()
        for name, value in request.headers.items():
            headers[name.lower()] = value  # appends: a repeated header keeps every value
        return headers


class Verifier:
    """Checks a request's SigV4 signature for one service, region and set of credentials."""

    def __init__(self, service, region, access_key_id, secret_access_key, session_token=None):
        self.service = service
        self.region = region
        self.credentials = Credentials(access_key_id, secret_access_key, session_token)

    def check(self, method, target, headers, body, now=None):
        """Raises Rejected naming the first thing that differs from what AWS accepts.

        `target` is the request target as sent (`/v1/traces`), `headers` an
        email.message.Message (what http.server gives), `body` the bytes as received.
        """
        now = now or datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
        authorization = headers.get("Authorization")
        if authorization is None:
            raise Rejected("MissingAuthenticationTokenException", "no Authorization header")
        credential, signed_headers, signature = _parse_authorization(authorization)

        scope = credential.split("/")
        if len(scope) != 5 or scope[4] != "aws4_request":
            raise Rejected(
                "IncompleteSignatureException",
                f"Credential {credential!r} is not <key id>/<date>/<region>/<service>/aws4_request",
            )
        key_id, scope_date, scope_region, scope_service, _ = scope
        expected = {
            "access key id": (key_id, self.credentials.access_key),
            "region": (scope_region, self.region),
            "service": (scope_service, self.service),
        }
        for what, (got, wanted) in expected.items():
            if got != wanted:
                raise Rejected(
                    "InvalidSignatureException",
                    f"Credential scope {what} is {got!r}, this endpoint's is {wanted!r}",
                )

        amz_date = headers.get("X-Amz-Date")
        if amz_date is None:
            raise Rejected("IncompleteSignatureException", "no X-Amz-Date header")
        try:
            signed_at = datetime.datetime.strptime(amz_date, SIGV4_TIMESTAMP)
        except ValueError:
            raise Rejected(
                "IncompleteSignatureException",
                f"X-Amz-Date {amz_date!r} is not YYYYMMDDTHHMMSSZ",
            ) from None
        if scope_date != amz_date[:8]:
            raise Rejected(
                "InvalidSignatureException",
                f"Credential scope date is {scope_date!r}, X-Amz-Date's is {amz_date[:8]!r}",
            )
        skew = abs(now - signed_at)
        if skew > MAX_SKEW:
            raise Rejected(
                "InvalidSignatureException",
                f"X-Amz-Date {amz_date} is {skew.total_seconds() / 60:.1f} minutes from now "
                f"({now.strftime(SIGV4_TIMESTAMP)}); AWS allows 15 (RequestTimeTooSkewed)",
            )

        for required in ("host", "x-amz-date"):
            if required not in signed_headers:
                raise Rejected(
                    "InvalidSignatureException",
                    f"SignedHeaders {';'.join(signed_headers)} leave out {required}, "
                    "which AWS requires",
                )
        missing = [name for name in signed_headers if headers.get(name) is None]
        if missing:
            raise Rejected(
                "InvalidSignatureException",
                f"SignedHeaders name {', '.join(missing)}, which the request does not carry",
            )

        token = headers.get("X-Amz-Security-Token")
        if token != self.credentials.token:
            if self.credentials.token is None:
                problem = "X-Amz-Security-Token is sent, but these credentials have no token"
            elif token is None:
                problem = "no X-Amz-Security-Token, but these are temporary credentials"
            else:
                problem = "X-Amz-Security-Token is not these credentials' session token"
            raise Rejected("UnrecognizedClientException", problem)

        # botocore's canonical request takes this header's value as the payload hash, as AWS
        # does, without hashing the body: the body is checked against it here.
        declared = headers.get("X-Amz-Content-SHA256")
        actual = hashlib.sha256(body).hexdigest()
        if declared is not None and declared != actual:
            raise Rejected(
                "InvalidSignatureException",
                f"X-Amz-Content-SHA256 is {declared}, the body's SHA-256 is {actual}",
            )

        request = AWSRequest(method=method, url=f"http://{headers['Host']}{target}", data=body)
        for name in signed_headers:
            for value in headers.get_all(name):
                request.headers[name] = value
        request.context["timestamp"] = amz_date
        signer = _ExactlyTheSignedHeaders(self.credentials, self.service, self.region)
        canonical_request = signer.canonical_request(request)
        string_to_sign = signer.string_to_sign(request, canonical_request)
        expected_signature = signer.signature(string_to_sign, request)
        if not hmac.compare_digest(expected_signature, signature):
            # AWS's own message, which shows what it signed.
            raise Rejected(
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you "
                "provided. The Canonical String for this request should have been\n"
                f"'{canonical_request}'\n\nThe String-to-Sign should have been\n"
                f"'{string_to_sign}'\n",
            )


def _parse_authorization(value):
    """(Credential, the SignedHeaders names, Signature) of an Authorization header."""
    algorithm, _, rest = value.partition(" ")
    if algorithm != ALGORITHM:
        raise Rejected(
            "IncompleteSignatureException",
            f"Authorization's algorithm is {algorithm!r}, not {ALGORITHM}",
        )
    fields = {}
    for part in rest.split(","):
        name, _, field = part.strip().partition("=")
        fields[name] = field
    absent = [name for name in ("Credential", "SignedHeaders", "Signature") if not fields.get(name)]
    if absent:
        raise Rejected("IncompleteSignatureException", f"Authorization has no {', '.join(absent)}")
    return fields["Credential"], fields["SignedHeaders"].split(";"), fields["Signature"]


class Endpoint(ThreadingHTTPServer):
    """The server: a verifier, the queue of answers and the record of requests."""

    daemon_threads = True

    def __init__(self, address, verifier):
        super().__init__(address, _Handler)
        self.verifier = verifier
        self.lock = threading.Lock()
        self.answers = collections.deque()
        self.received = []


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the exporters' clients use

    def do_POST(self):
        body = self._read_body()
        if self.path == CONTROL + "answers":
            with self.server.lock:
                self.server.answers.extend(json.loads(body))
            return self._reply(200, b"", "application/json")
        server = self.server
        try:
            server.verifier.check("POST", self.path, self.headers, body)
            reason = None
        except Rejected as rejected:
            reason = f"{rejected.kind}: {rejected}"
            error = {"__type": rejected.kind, "message": str(rejected)}
        with server.lock:
            server.received.append(
                {
                    "path": self.path,
                    "verified": reason is None,
                    "reason": reason,
                    "headers": _lower_case(self.headers),
                    "body_base64": base64.b64encode(body).decode(),
                }
            )
            answer = None if reason else (server.answers.popleft() if server.answers else {})
        if reason:
            return self._reply(
                403,
                json.dumps(error).encode(),
                "application/x-amz-json-1.1",
                {"x-amzn-ErrorType": error["__type"]},
            )
        answer = {**DEFAULT_ANSWER, **answer}
        self._reply(
            answer["status"],
            base64.b64decode(answer["body_base64"]),
            answer["content_type"],
            answer.get("headers", {}),
        )

    def do_GET(self):
        if self.path != CONTROL + "received":
            return self._reply(404, b"", "text/plain")
        with self.server.lock:
            body = json.dumps(self.server.received).encode()
        self._reply(200, body, "application/json")

    def _read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                chunk = self.rfile.read(size)
                self.rfile.readline()  # the CRLF after the chunk
                if size == 0:
                    return b"".join(chunks)
                chunks.append(chunk)
        return self.rfile.read(int(self.headers.get("Content-Length", 0)))

    def _reply(self, status, body, content_type, headers=None):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):
        pass  # the record of /_control/received says everything; stderr stays for failures


def _lower_case(headers):
    """Header names in lower case; a repeated header's values joined with ", "."""
    joined = {}
    for name, value in headers.items():
        name = name.lower()
        joined[name] = f"{joined[name]}, {value}" if name in joined else value
    return joined


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--service", required=True, help="xray or monitoring")
    parser.add_argument("--region", required=True)
    parser.add_argument("--access-key-id", required=True)
    parser.add_argument("--secret-access-key", required=True)
    parser.add_argument("--session-token")
    parser.add_argument("--port", type=int, default=0, help="0: any free port")
    stdin_lifeline.add_argument(parser)
    args = parser.parse_args(argv)
    if args.exit_with_stdin:
        stdin_lifeline.exit_when_stdin_closes()
    verifier = Verifier(
        args.service, args.region, args.access_key_id, args.secret_access_key, args.session_token
    )
    server = Endpoint(("127.0.0.1", args.port), verifier)
    print(f"listening 127.0.0.1:{server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
