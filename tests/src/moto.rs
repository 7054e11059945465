//! moto's server standing in for CloudWatch Logs, Secrets Manager, SSM Parameter Store and
//! IAM on a loopback port, stopped on drop, with a
//! plain-HTTP reader of what it holds (moto does not check signatures unless asked to).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// A running `moto_server`.
pub struct Moto {
    child: Child,
    port: u16,
}

impl Moto {
    /// On a free port, with extra environment (`INITIAL_NO_AUTH_ACTION_COUNT=0` turns
    /// authentication on).
    pub fn start(env: &[(&str, &str)]) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        Self::start_on(port, env)
    }

    /// On `port`: to bring a stopped one back where its clients look for it.
    pub fn start_on(port: u16, env: &[(&str, &str)]) -> Self {
        let in_venv = crate::workspace_root().join(".venv/bin/moto_server");
        let program = if in_venv.exists() {
            in_venv.into_os_string()
        } else {
            "moto_server".into()
        };
        let child = Command::new(program)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server is not installed: run `make test`, which installs the pinned one");
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "moto_server did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Self { child, port }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// For `AWS_ENDPOINT_URL`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// One CloudWatch Logs action, as the JSON protocol carries it.
    fn call(&self, action: &str, body: Value) -> Value {
        self.call_json("logs", &format!("Logs_20140328.{action}"), body)
    }

    /// One action of a JSON-protocol service: `service` is its signing name (moto routes by
    /// it), `target` its `X-Amz-Target` (`secretsmanager.CreateSecret`).
    fn call_json(&self, service: &str, target: &str, body: Value) -> Value {
        let mut response = ureq::post(&self.endpoint())
            .header("x-amz-target", target)
            .header("content-type", "application/x-amz-json-1.1")
            .header(
                "authorization",
                &format!("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261121/us-east-1/{service}/aws4_request, SignedHeaders=host, Signature=0"),
            )
            .send(body.to_string())
            .unwrap_or_else(|e| panic!("{target}: {e}"));
        serde_json::from_reader(response.body_mut().as_reader()).expect("a JSON answer")
    }

    /// Creates a Secrets Manager secret holding `value`; its ARN.
    pub fn create_secret(&self, name: &str, value: &str) -> String {
        let answer = self.call_json(
            "secretsmanager",
            "secretsmanager.CreateSecret",
            json!({ "Name": name, "SecretString": value }),
        );
        answer["ARN"].as_str().expect("the secret's ARN").to_owned()
    }

    /// A new version of the secret `arn`, current from now on (a rotation).
    pub fn put_secret_value(&self, arn: &str, value: &str) {
        self.call_json(
            "secretsmanager",
            "secretsmanager.PutSecretValue",
            json!({ "SecretId": arn, "SecretString": value }),
        );
    }

    /// Creates (or overwrites) an SSM SecureString parameter holding `value`; its ARN.
    pub fn put_parameter(&self, name: &str, value: &str) -> String {
        self.call_json(
            "ssm",
            "AmazonSSM.PutParameter",
            json!({ "Name": name, "Value": value, "Type": "SecureString", "Overwrite": true }),
        );
        format!(
            "arn:aws:ssm:us-east-1:123456789012:parameter/{}",
            name.trim_start_matches('/')
        )
    }

    /// An IAM user with an access key and no policy: whatever it asks is denied, once
    /// authentication is on (`INITIAL_NO_AUTH_ACTION_COUNT`; this takes two actions). Its
    /// access key id and secret key.
    pub fn user_without_permissions(&self, name: &str) -> (String, String) {
        let query = |action: &str| {
            let mut response = ureq::post(&self.endpoint())
                .header("content-type", "application/x-www-form-urlencoded")
                .header(
                    "authorization",
                    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261121/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=0",
                )
                .send(format!("Action={action}&UserName={name}&Version=2010-05-08"))
                .unwrap_or_else(|e| panic!("{action}: {e}"));
            response.body_mut().read_to_string().expect("an XML answer")
        };
        query("CreateUser");
        let key = query("CreateAccessKey");
        let element = |tag: &str| {
            let start = key.find(&format!("<{tag}>")).expect(tag) + tag.len() + 2;
            let end = key[start..].find('<').expect(tag) + start;
            key[start..end].to_owned()
        };
        (element("AccessKeyId"), element("SecretAccessKey"))
    }

    /// The names of the groups that start with `prefix`.
    pub fn groups(&self, prefix: &str) -> Vec<String> {
        let answer = self.call("DescribeLogGroups", json!({ "logGroupNamePrefix": prefix }));
        answer["logGroups"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|g| g["logGroupName"].as_str().map(str::to_owned))
            .collect()
    }

    /// The names of the group's streams that start with `prefix`.
    pub fn streams(&self, group: &str, prefix: &str) -> Vec<String> {
        let answer = self.call(
            "DescribeLogStreams",
            json!({ "logGroupName": group, "logStreamNamePrefix": prefix }),
        );
        answer["logStreams"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s["logStreamName"].as_str().map(str::to_owned))
            .collect()
    }

    /// Every message of a stream, oldest first.
    pub fn messages(&self, group: &str, stream: &str) -> Vec<String> {
        let mut messages = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut request = json!({
                "logGroupName": group, "logStreamName": stream, "startFromHead": true,
            });
            if let Some(token) = &token {
                request["nextToken"] = token.as_str().into();
            }
            let page = self.call("GetLogEvents", request);
            let events = page["events"].as_array().cloned().unwrap_or_default();
            messages.extend(
                events
                    .iter()
                    .filter_map(|e| e["message"].as_str().map(str::to_owned)),
            );
            let next = page["nextForwardToken"].as_str().map(str::to_owned);
            if events.is_empty() || next == token {
                return messages;
            }
            token = next;
        }
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        self.stop();
    }
}
