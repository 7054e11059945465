"""A loopback stand-in for the deployed API's CORS: API Gateway's own answer to a preflight, as
template.yaml configures it, in front of the functions.

The template's `Cors` (on CruddurApi) does not reach the functions: SAM turns it into an
`OPTIONS` method on every path, a mock integration that API Gateway answers itself with the
allowed origin, methods, headers and max age. This server runs SAM's own transform
(samtranslator, the one `sam validate` and `sam deploy` use, from .venv) on template.yaml, takes
each path's generated `OPTIONS` mock and answers preflights with it, word for word; every other
request is forwarded to the API (`cargo lambda watch`), whose function answers it, as the
Lambda proxy integration does. Each answer carries `x-amzn-requestid`, as API Gateway's do.

    python api_gateway_cors.py --api http://127.0.0.1:PORT --frontend-url http://localhost:3000

prints `listening 127.0.0.1:PORT` as its first line; `--show` prints the preflight answers it
would give, per path, and exits.
"""

import argparse
import json
import logging
import os
import re
import sys
import urllib.error
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cfnlint.decode import decode
from samtranslator.translator.transform import transform

import stdin_lifeline

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"
# A mock integration's response parameters name the method response's headers so.
HEADER_PARAMETER = "method.response.header."
# Hop-by-hop headers (RFC 9110, 7.6.1) are the proxy's own, not forwarded.
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "host"}


# The transform fills in the pseudo parameters (AWS::Region) from a boto session, which asks
# nothing over the network but needs a region; the CORS answers do not depend on it.
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
# Its notes about feature toggles it was not given are not ours.
logging.getLogger("samtranslator").setLevel(logging.ERROR)


class NoManagedPolicies:
    """The template names no managed policy by name, so the transform asks IAM for none."""

    def load(self):
        return {}


def literal(value, parameters):
    """A response parameter's value: a quoted literal (`'GET,HEAD'`), maybe in an `Fn::Sub` of
    the template's parameters, as API Gateway reads it."""
    if isinstance(value, dict) and set(value) == {"Fn::Sub"}:
        value = re.sub(r"\$\{(\w+)\}", lambda m: parameters[m.group(1)], value["Fn::Sub"])
    if not (isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == "'"):
        raise ValueError(f"not a static response parameter: {value!r}")
    return value[1:-1]


def preflight_answers(frontend_url):
    """Per path of the API (SAM's `{handle}` kept), the preflight answer API Gateway gives:
    (status, [(header, value)], body)."""
    template, problems = decode(str(TEMPLATE))
    if problems:
        sys.exit("\n".join(str(p) for p in problems))
    # As `sam validate` does: the transform checks CodeUri's form, not what it names.
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":
            resource["Properties"]["CodeUri"] = "s3://bucket/key"
    parameters = {"FrontendUrl": frontend_url}
    transformed = transform(template, parameters, NoManagedPolicies())
    (body,) = [
        resource["Properties"]["Body"]
        for resource in transformed["Resources"].values()
        if resource["Type"] == "AWS::ApiGateway::RestApi"
    ]
    answers = {}
    for path, methods in body["paths"].items():
        # A path behind a condition (/rollbar/test, `Fn::If` on RollbarTestRoute) has its
        # methods one level down; the page calls none of them.
        if "options" not in methods:
            continue
        mock = methods["options"]["x-amazon-apigateway-integration"]
        assert mock["type"] == "mock", mock
        response = mock["responses"]["default"]
        headers = [
            (name[len(HEADER_PARAMETER):], literal(value, parameters))
            for name, value in response["responseParameters"].items()
        ]
        answers[path] = (
            int(response["statusCode"]),
            headers,
            response["responseTemplates"]["application/json"].encode(),
        )
    return answers


def route(answers, path):
    """The API path template `path` falls under, or None; as API Gateway routes, a literal
    path (`/api/activities/home`) before one with a variable (`/api/activities/{handle}`)."""
    path = path.split("?", 1)[0]
    for template in sorted(answers, key=lambda t: t.count("{")):
        pattern = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template))
        if re.fullmatch(pattern, path):
            return template
    return None


class PassRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is the function's answer, passed on as API Gateway passes it, not followed."""

    def redirect_request(self, *args):
        return None


def serve(api, answers):
    opener = urllib.request.build_opener(PassRedirects)

    class Gateway(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def answer(self, status, headers, body):
            self.send_response(status)
            for name, value in headers:
                if name.lower() not in HOP_BY_HOP and name.lower() != "content-length":
                    self.send_header(name, value)
            self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def do_OPTIONS(self):
            path = route(answers, self.path)
            if path is None:
                return self.forward()
            status, headers, body = answers[path]
            self.answer(status, [("Content-Type", "application/json"), *headers], body)

        def forward(self):
            length = int(self.headers.get("Content-Length") or 0)
            request = urllib.request.Request(
                api + self.path,
                data=self.rfile.read(length) if length else None,
                method=self.command,
                headers={n: v for n, v in self.headers.items() if n.lower() not in HOP_BY_HOP},
            )
            try:
                with opener.open(request, timeout=300) as response:
                    self.answer(response.status, response.getheaders(), response.read())
            except urllib.error.HTTPError as error:
                self.answer(error.code, error.headers.items(), error.read())

        do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = forward

    server = ThreadingHTTPServer(("127.0.0.1", 0), Gateway)
    print(f"listening 127.0.0.1:{server.server_address[1]}", flush=True)
    server.serve_forever()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--api", help="the functions' origin, http://127.0.0.1:PORT")
    parser.add_argument("--frontend-url", required=True, help="the FrontendUrl parameter")
    parser.add_argument("--show", action="store_true", help="print the preflight answers, exit")
    stdin_lifeline.add_argument(parser)
    arguments = parser.parse_args()
    if arguments.exit_with_stdin:
        stdin_lifeline.exit_when_stdin_closes()
    answers = preflight_answers(arguments.frontend_url)
    if arguments.show:
        shown = {
            path: {"status": status, "headers": headers, "body": body.decode()}
            for path, (status, headers, body) in answers.items()
        }
        json.dump(shown, sys.stdout, indent=1)
        return
    serve(arguments.api.rstrip("/"), answers)


if __name__ == "__main__":
    main()
