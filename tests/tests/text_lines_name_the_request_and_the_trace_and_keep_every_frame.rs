//! `AWS_LAMBDA_LOG_FORMAT=Text`, the readable format of a local run: each event starts on a
//! line of its own with its time, level, whole request id (or a blank column), message,
//! fields and whole trace id; a panic's backtrace follows on indented lines, one frame and
//! one `file:line:column` to a line, with the secrets of the request still masked.

use tests::LocalApi;

/// `2026-11-21T18:41:06.123Z ERROR ` and the request id column: where a message starts.
const MESSAGE_COLUMN: usize = 24 + 1 + 5 + 1 + 36 + 1;

fn is_hex(text: &str, len: usize) -> bool {
    text.len() == len && text.bytes().all(|b| b.is_ascii_hexdigit())
}

fn is_number(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())
}

/// `2026-11-21T18:41:06.123Z`: RFC 3339, UTC, milliseconds.
fn is_timestamp(text: &str) -> bool {
    let shape = "dddd-dd-ddTdd:dd:dd.dddZ";
    text.len() == shape.len()
        && text.bytes().zip(shape.bytes()).all(|(b, s)| {
            if s == b'd' {
                b.is_ascii_digit()
            } else {
                b == s
            }
        })
}

/// `handler.rs:<line>:<column>` of the `panic!` in rollbar-test's handler, read from its source.
fn panic_location() -> String {
    let source = std::fs::read_to_string(
        tests::workspace_root().join("functions/rollbar-test/src/handler.rs"),
    )
    .unwrap();
    source
        .lines()
        .enumerate()
        .find_map(|(n, line)| {
            let column = line.find("panic!(\"the Rollbar test panic")?;
            Some(format!("handler.rs:{}:{}", n + 1, column + 1))
        })
        .expect("the handler panics with ?panic=1")
}

#[test]
fn text_lines_name_the_request_and_the_trace_and_keep_every_frame() {
    let api = LocalApi::start(&[("AWS_LAMBDA_LOG_FORMAT", "Text"), ("RUST_BACKTRACE", "1")]);
    let reply = api.get(
        "/rollbar/test?panic=1&token=canary-q",
        &[("Authorization", "Bearer canary-h")],
    );
    assert_eq!(reply.status, 500);
    assert_eq!(api.get("/api/activities/home", &[]).status, 200);

    let lines = api.function_lines();
    assert!(!lines.concat().contains("canary"), "{lines:#?}");
    // Metrics lines stay EMF JSON in any log format: CloudWatch reads them, not people.
    let lines: Vec<String> = lines
        .into_iter()
        .filter(|l| !tests::emf::is_emf(l))
        .collect();
    let starts: Vec<usize> = (0..lines.len())
        .filter(|&i| !lines[i].starts_with(' '))
        .collect();
    for &i in &starts {
        let line = &lines[i];
        assert!(
            is_timestamp(&line[..24]) && line.len() > MESSAGE_COLUMN,
            "{line}"
        );
        let request_id = line[31..MESSAGE_COLUMN].trim_end();
        assert!(
            request_id.is_empty() || request_id.len() == 36,
            "a whole request id or none: {line}"
        );
        if !request_id.is_empty() {
            let trace_id = line
                .rsplit_once(" trace_id=")
                .map(|(_, id)| id)
                .unwrap_or_default();
            assert!(is_hex(trace_id, 32), "a whole trace id last: {line}");
        }
    }

    let panic = starts
        .iter()
        .copied()
        .find(|&i| lines[i].contains(" panicked: "))
        .unwrap_or_else(|| panic!("no panic line: {lines:#?}"));
    let head = &lines[panic];
    assert_eq!(&head[24..31], " ERROR ", "{head}");
    let location = panic_location();
    assert!(
        head[MESSAGE_COLUMN..].starts_with(&format!(
            "panicked: the Rollbar test panic (?panic=1) \
             panic_location=functions/rollbar-test/src/{location} trace_id="
        )),
        "{head}"
    );
    assert_eq!(lines[panic + 1], "    backtrace:");
    let frames: Vec<&str> = lines[panic + 2..]
        .iter()
        .take_while(|line| line.starts_with("     "))
        .map(|line| line.trim_start())
        .collect();
    let locations: Vec<&str> = frames
        .iter()
        .filter_map(|f| f.strip_prefix("at "))
        .collect();
    assert!(locations.len() >= 10, "{frames:#?}");
    for location in &locations {
        // `file.rs:12:5`; the C library's assembly (`clone3.S:81`) has no column.
        let (file_and_line, last) = location.rsplit_once(':').unwrap_or_default();
        let line = file_and_line.rsplit_once(':').map(|(_, line)| line);
        assert!(
            is_number(last) && (line.is_some_and(is_number) || file_and_line.ends_with(".S")),
            "{location}"
        );
    }
    let handler = frames
        .iter()
        .position(|f| f.ends_with(": rollbar_test::handler::handle::{{closure}}"))
        .unwrap_or_else(|| panic!("{frames:#?}"));
    assert_eq!(
        frames[handler + 1],
        format!("at ./functions/rollbar-test/src/{location}")
    );

    // The request's access line: the same request and trace, what its message says left out.
    let request_id = &head[31..MESSAGE_COLUMN];
    let trace_id = &head[head.rfind(" trace_id=").unwrap()..];
    let access = starts
        .iter()
        .map(|&i| &lines[i])
        .find(|line| line.contains(" GET /rollbar/test 500"))
        .unwrap_or_else(|| panic!("{lines:#?}"));
    assert_eq!(&access[31..MESSAGE_COLUMN], request_id);
    assert!(access.ends_with(trace_id), "{access}");
    assert!(
        access[MESSAGE_COLUMN..]
            .starts_with("GET /rollbar/test 500 query=panic=1&token=[REDACTED] duration_ms="),
        "{access}"
    );
}
