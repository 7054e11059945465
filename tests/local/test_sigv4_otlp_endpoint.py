"""The stand-in's signature check against requests botocore signs: the right service, region,
credentials, body and time pass; each one wrong fails, with a reason naming it.

    .venv/bin/python -m unittest discover -s tests/local -p 'test_*.py'

(tests/tests/the_aws_otlp_stand_in_checks_every_signature.rs runs this under `cargo test`.)
"""

import base64
import datetime
import hashlib
import http.client
import json
import threading
import unittest
from unittest import mock

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

import sigv4_otlp_endpoint as stand_in

# AWS's documented example keys: fake, never anyone's.
KEY_ID = "AKIAIOSFODNN7EXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
TOKEN = "IQoJb3JpZ2luX2VjEXAMPLE//session+token="
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
BODY = bytes(range(256)) * 4  # any bytes: an OTLP body is binary protobuf, maybe gzip


class Server:
    """The stand-in on a free port, in this process."""

    def __init__(self, service="xray", region="us-east-1", token=None):
        verifier = stand_in.Verifier(service, region, KEY_ID, SECRET, token)
        self.server = stand_in.Endpoint(("127.0.0.1", 0), verifier)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def send(self, method, path, headers, body):
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        answer = (response.status, dict(response.getheaders()), response.read())
        connection.close()
        return answer

    def received(self):
        return json.loads(self.send("GET", "/_control/received", {}, None)[2])

    def answer_next(self, answers):
        self.send("POST", "/_control/answers", {}, json.dumps(answers).encode())


def signed(port, *, service="xray", region="us-east-1", secret=SECRET, token=None,
           body=BODY, at=None, extra=None, path="/v1/traces"):
    """The headers botocore's SigV4Auth.add_auth gives a POST of `body` to the stand-in."""
    headers = {"Content-Type": "application/x-protobuf", **(extra or {})}
    request = AWSRequest("POST", f"http://127.0.0.1:{port}{path}", headers=headers, data=body)
    signer = SigV4Auth(Credentials(KEY_ID, secret, token), service, region)
    if at is None:
        signer.add_auth(request)
    else:
        with mock.patch("botocore.auth.get_current_datetime", return_value=at):
            signer.add_auth(request)
    return dict(request.headers.items())


def minutes_ago(minutes):
    """botocore's clock (naive UTC) `minutes` ago."""
    now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    return now - datetime.timedelta(minutes=minutes)


class SignatureCheck(unittest.TestCase):
    """AWS recomputes the signature from the request as received, with the key derived from
    the secret and the Credential scope's date, region and service, and refuses a request whose
    scope names another key, region or service, whose body does not hash to its
    X-Amz-Content-SHA256, or whose X-Amz-Date is more than 15 minutes from its clock."""

    def setUp(self):
        self.server = Server()
        self.addCleanup(self.server.close)

    def post(self, headers, body=BODY, path="/v1/traces"):
        status, _, answer = self.server.send("POST", path, headers, body)
        return status, answer, self.server.received()[-1]

    def assert_refused(self, headers, body, *words):
        status, answer, record = self.post(headers, body)
        self.assertEqual(status, 403, answer)
        error = json.loads(answer)
        self.assertIn(error["__type"], record["reason"])
        self.assertFalse(record["verified"])
        for word in words:
            self.assertIn(word, record["reason"])
        return record

    def test_a_request_botocore_signed_for_this_endpoint_passes(self):
        status, answer, record = self.post(signed(self.server.port))
        self.assertEqual((status, answer), (200, b""))
        self.assertEqual(record["reason"], None)
        self.assertTrue(record["verified"])
        self.assertEqual(base64.b64decode(record["body_base64"]), BODY)
        self.assertEqual(record["path"], "/v1/traces")

    def test_an_empty_body_and_a_query_pass(self):
        headers = signed(self.server.port, body=b"", path="/v1/traces?a=1")
        status, _, record = self.post(headers, b"", "/v1/traces?a=1")
        self.assertEqual(status, 200, record["reason"])

    def test_a_wrong_region_fails_naming_the_region(self):
        self.assert_refused(signed(self.server.port, region="us-west-2"), BODY,
                            "region", "'us-west-2'", "'us-east-1'")

    def test_a_wrong_service_fails_naming_the_service(self):
        self.assert_refused(signed(self.server.port, service="monitoring"), BODY,
                            "service", "'monitoring'", "'xray'")

    def test_a_wrong_secret_fails_as_a_signature_that_does_not_match(self):
        record = self.assert_refused(signed(self.server.port, secret=SECRET[:-1] + "X"), BODY,
                                     "SignatureDoesNotMatch")
        # The canonical request it shows hashes the body as received.
        self.assertIn(hashlib.sha256(BODY).hexdigest(), record["reason"])

    def test_a_changed_body_byte_fails_the_signature(self):
        changed = bytes([BODY[0] ^ 1]) + BODY[1:]
        record = self.assert_refused(signed(self.server.port), changed, "SignatureDoesNotMatch")
        self.assertIn(hashlib.sha256(changed).hexdigest(), record["reason"])

    def test_a_changed_body_byte_fails_the_declared_body_hash(self):
        declared = hashlib.sha256(BODY).hexdigest()
        headers = signed(self.server.port, extra={"X-Amz-Content-SHA256": declared})
        changed = BODY[:-1] + bytes([BODY[-1] ^ 1])
        self.assert_refused(headers, changed, "X-Amz-Content-SHA256", declared,
                            hashlib.sha256(changed).hexdigest())
        # The same headers with the body they declare pass: the hash was the only fault.
        self.assertEqual(self.post(headers, BODY)[0], 200)

    def test_a_signature_20_minutes_old_fails_as_skewed(self):
        self.assert_refused(signed(self.server.port, at=minutes_ago(20)), BODY,
                            "X-Amz-Date", "20.0 minutes", "RequestTimeTooSkewed")

    def test_a_signature_14_minutes_old_passes(self):
        self.assertEqual(self.post(signed(self.server.port, at=minutes_ago(14)))[0], 200)

    def test_an_unsigned_request_fails_naming_the_authorization_header(self):
        self.assert_refused({"Content-Type": "application/x-protobuf"}, BODY, "Authorization")

    def test_an_unsigned_header_changed_after_signing_still_passes_a_signed_one_fails(self):
        headers = signed(self.server.port, extra={"Content-Encoding": "gzip"})
        self.assertEqual(self.post({**headers, "User-Agent": "changed"})[0], 200)
        self.assert_refused({**headers, "Content-Encoding": "identity"}, BODY,
                            "SignatureDoesNotMatch")

    def test_a_header_botocore_leaves_out_is_checked_when_the_client_signed_it(self):
        """aws-sigv4 (Rust) signs traceparent, which botocore never does: AWS checks whatever
        SignedHeaders name, and so must the stand-in."""
        with mock.patch("botocore.auth.SIGNED_HEADERS_BLACKLIST", []):
            headers = signed(self.server.port, extra={"traceparent": TRACEPARENT})
        self.assertIn("traceparent", headers["Authorization"])
        self.assertEqual(self.post(headers)[0], 200)
        changed = TRACEPARENT.replace("-01", "-00")
        self.assert_refused({**headers, "traceparent": changed}, BODY, "SignatureDoesNotMatch")

    def test_a_host_left_out_of_signed_headers_fails(self):
        headers = signed(self.server.port)
        headers["Authorization"] = headers["Authorization"].replace(
            "SignedHeaders=content-type;host;", "SignedHeaders=content-type;")
        self.assert_refused(headers, BODY, "leave out host")


class SessionToken(unittest.TestCase):
    def setUp(self):
        self.server = Server(service="monitoring", token=TOKEN)
        self.addCleanup(self.server.close)

    def test_temporary_credentials_pass_with_their_token_and_fail_without(self):
        def post(**credentials):
            headers = signed(self.server.port, service="monitoring", path="/v1/metrics",
                             **credentials)
            status, _, answer = self.server.send("POST", "/v1/metrics", headers, BODY)
            return status, answer

        self.assertEqual(post(token=TOKEN), (200, b""))
        status, answer = post()
        self.assertEqual(status, 403)
        self.assertIn("no X-Amz-Security-Token", json.loads(answer)["message"])
        status, answer = post(token=TOKEN + "x")
        self.assertEqual(status, 403)
        self.assertIn("not these credentials' session token", json.loads(answer)["message"])


class Answers(unittest.TestCase):
    def setUp(self):
        self.server = Server()
        self.addCleanup(self.server.close)

    def test_queued_answers_go_to_verified_requests_in_order_then_the_default(self):
        partial = b"\x0a\x02\x08\x01"
        self.server.answer_next([
            {"status": 429, "headers": {"Retry-After": "0"}},
            {"status": 200, "body_base64": base64.b64encode(partial).decode()},
        ])
        # A refused request takes no queued answer.
        self.assertEqual(self.server.send("POST", "/v1/traces", {}, BODY)[0], 403)
        answers = [self.server.send("POST", "/v1/traces", signed(self.server.port), BODY)
                   for _ in range(3)]
        self.assertEqual([(s, h.get("Retry-After"), b) for s, h, b in answers],
                         [(429, "0", b""), (200, None, partial), (200, None, b"")])
        self.assertEqual(answers[2][1]["Content-Type"], "application/x-protobuf")
        self.assertEqual([r["verified"] for r in self.server.received()],
                         [False, True, True, True])


if __name__ == "__main__":
    unittest.main()
