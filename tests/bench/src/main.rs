//! `make bench`: every variant driven through a loopback Lambda Runtime API that timestamps
//! each step, one at a time, then one markdown table of the figures with the ratios and the
//! targets, the raw results as JSON and a chart, under target/bench/.
//!
//! `--quick` (`make bench-quick`, run in CI) measures a few invocations of every variant
//! with the debug builds, to keep the harness working; its numbers mean nothing.

mod chart;
mod measure;
mod report;
mod variants;

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use measure::{Context, Receivers, Secrets};
use report::{Distribution, Figures};
use variants::{Build, Keys, Launch, Traces, Variant};

/// How many of each measurement: the issue's minimums in full, a handful in quick mode.
struct Counts {
    cold_starts: usize,
    warm: usize,
    /// Warm invocations against the 100 ms receiver: each one waits for it.
    slow_warm: usize,
    /// Callgrind runs `1 + n` and `1 + 2n` invocations.
    callgrind: usize,
}

const FULL: Counts = Counts {
    cold_starts: 20,
    warm: 5000,
    slow_warm: 300,
    callgrind: 200,
};
const QUICK: Counts = Counts {
    cold_starts: 2,
    warm: 20,
    slow_warm: 3,
    callgrind: 2,
};

fn main() {
    let started = Instant::now();
    let quick = std::env::args().any(|a| a == "--quick");
    let mut counts = if quick { QUICK } else { FULL };
    // `--callgrind <n>`: more (or fewer) invocations under callgrind, for a profile.
    if let Some(n) = std::env::args()
        .skip_while(|a| a != "--callgrind")
        .nth(1)
        .and_then(|n| n.parse().ok())
    {
        counts.callgrind = n;
    }
    let root = tests::workspace_root();
    let out_dir = root.join("target/bench");
    std::fs::create_dir_all(out_dir.join("callgrind")).expect("target/bench is writable");
    // The functions built with the same profile as this driver: target/release for
    // `make bench`, target/debug (which `make test` has built already) for `bench-quick`.
    let bin_dir = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| root.join("target/release"));

    // `--only <name>`: just that variant (to profile it).
    let only = std::env::args().skip_while(|a| a != "--only").nth(1);
    let mut all = variants::all(&bin_dir);
    if let Some(only) = &only {
        all.retain(|v| &v.name == only);
    }
    // The key, "metrics off", log buffer and one-destination variants run the Cruddur functions' code under
    // callgrind like their own rows do; in quick mode that path is kept working by the other
    // rows, and these runs under valgrind would double what these variants add to
    // `make test` (about 3 s each).
    if quick {
        for variant in all.iter_mut().filter(|v| {
            v.keys != Keys::Token
                || !v.metrics
                || v.log_buffer
                || v.query.is_some()
                || v.traces != Traces::OtlpAndXray
        }) {
            variant.callgrind = false;
        }
    }

    let python = python_venv(&root, &out_dir);
    let moto = python.as_ref().ok().and_then(|venv| start_moto(venv).ok());
    // A moto of its own for the Secrets Manager variant (the one above serves watchtower and
    // exists only with the Python stacks), started only when that variant runs.
    let mut secrets_moto = all
        .iter()
        .any(|v| v.keys == Keys::SecretsManager)
        .then(start_secrets_moto);
    let context = Context {
        root: root.clone(),
        python: python.clone().unwrap_or_default(),
        moto_endpoint: moto.as_ref().map(|(_, endpoint)| endpoint.clone()),
        secrets: match &secrets_moto {
            Some(Ok((_, secrets))) => Some(secrets.clone()),
            _ => None,
        },
    };
    let valgrind = Command::new("valgrind")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    // One variant is a timing comparison or a profile: no arm64 cross-build for its sizes.
    let sizes = if only.is_some() {
        Vec::new()
    } else {
        sizes(&root, &bin_dir, &all, quick, &out_dir)
    };
    let mut figures = Vec::new();
    for variant in &all {
        eprintln!("bench: {}", variant.name);
        let mut f = Figures {
            name: variant.name.clone(),
            about: variant.about.to_owned(),
            ..Figures::default()
        };
        if let (Launch::Python(_), Err(error)) = (&variant.launch, &python) {
            f.error = Some(error.clone());
            figures.push(f);
            continue;
        }
        if let (Keys::SecretsManager, Some(Err(error))) = (variant.keys, &secrets_moto) {
            f.error = Some(error.clone());
            figures.push(f);
            continue;
        }
        if let Err(error) = measure_variant(&context, variant, &counts, valgrind, &out_dir, &mut f)
        {
            eprintln!("bench: {}: {error}", variant.name);
            f.error = Some(error);
        }
        if let Some(build) = variant.binary
            && let Some((binary, zip, arch)) = sizes.iter().find(|s| s.0 == build).map(|s| &s.1)
        {
            f.binary_bytes = Some(*binary);
            f.zip_bytes = Some(*zip);
            f.size_arch = Some(arch.clone());
        }
        figures.push(f);
    }
    if let Some((mut moto, _)) = moto {
        let _ = moto.kill();
        let _ = moto.wait();
    }
    if let Some(Ok((moto, _))) = &mut secrets_moto {
        moto.stop();
    }

    let same_as_emulator = compare_with_cargo_lambda_watch(&figures);
    let targets = report::targets(&figures);
    let table = report::table(&figures);
    // A quick run's debug-build figures are no measurements: judging them against the targets
    // would print FAIL rows in a run where nothing failed.
    let targets_table = if quick {
        "Targets are judged by `make bench` only (release builds, full counts); this quick run \
         checks that every variant runs, and its figures are not measurements.\n"
            .to_owned()
    } else {
        report::targets_table(&targets)
    };
    let criterion = report::criterion_estimates(&root.join("target/criterion"));
    let criterion_table = report::criterion_table(&criterion);
    let elapsed = started.elapsed();
    let mode = if quick {
        "make bench-quick (debug builds, a few invocations: the numbers mean nothing)"
    } else {
        "make bench"
    };
    let summary = format!(
        "## Benchmarks: {mode}\n\n{} cold starts, {} warm invocations ({} against the 100 ms receiver), callgrind over {} and {} invocations; times in ms and µs on this machine, sizes for {}.\n\n{table}\n{criterion_table}\n{targets_table}\nResponses checked against `cargo lambda watch`: {same_as_emulator}. Took {:.0} s.\n",
        counts.cold_starts,
        counts.warm,
        counts.slow_warm,
        counts.callgrind,
        2 * counts.callgrind,
        if quick {
            "x86_64 (native debug build)"
        } else {
            "arm64 (cargo lambda build --release --arm64, zip -9)"
        },
        elapsed.as_secs_f64(),
    );
    println!("{summary}");

    let json = serde_json::json!({
        "mode": if quick { "quick" } else { "full" },
        "date": chrono::Utc::now().to_rfc3339(),
        "machine": machine(),
        "seconds": elapsed.as_secs_f64(),
        "responses_match_cargo_lambda_watch": same_as_emulator,
        "variants": figures,
        "targets": targets,
        "criterion_median_ns": criterion,
    });
    let results = out_dir.join("results.json");
    std::fs::write(&results, serde_json::to_vec_pretty(&json).expect("JSON"))
        .expect("results.json is writable");
    std::fs::write(out_dir.join("table.md"), &summary).expect("table.md is writable");
    let png = out_dir.join("chart.png");
    match chart::draw(&figures, &png) {
        Ok(()) => eprintln!("bench: wrote {}, {}", results.display(), png.display()),
        Err(error) => eprintln!("bench: chart failed: {error}"),
    }
}

fn measure_variant(
    context: &Context,
    variant: &Variant,
    counts: &Counts,
    valgrind: bool,
    out_dir: &Path,
    f: &mut Figures,
) -> Result<(), String> {
    if let Launch::Binary(path) = &variant.launch
        && !path.exists()
    {
        return Err(format!("{} is not built", path.display()));
    }
    let event_path = context
        .root
        .join("events")
        .join(format!("{}.json", variant.event));
    let event = std::fs::read(&event_path).map_err(|e| format!("{}: {e}", event_path.display()))?;
    let event = match variant.query {
        Some(query) => {
            with_query(&event, query).map_err(|e| format!("{}: {e}", event_path.display()))?
        }
        None => event,
    };
    let receivers = Receivers::start(variant.sinks, variant.keys, variant.traces);

    let starts = measure::cold_starts(context, variant, &receivers, &event, counts.cold_starts)?;
    let ms = 1e-3;
    f.cold_start_ms = Distribution::of(
        &starts.iter().map(|s| s.first_response).collect::<Vec<_>>(),
        ms,
    );
    f.init_ms = Distribution::of(&starts.iter().map(|s| s.init).collect::<Vec<_>>(), ms);
    f.cold_flush_ms = Distribution::of(&starts.iter().map(|s| s.flush).collect::<Vec<_>>(), ms);
    f.registration_ms = Distribution::of(
        &starts
            .iter()
            .filter_map(|s| s.registration)
            .collect::<Vec<_>>(),
        ms,
    );
    let mut faults: Vec<u64> = starts.iter().filter_map(|s| s.minor_faults).collect();
    faults.sort_unstable();
    f.cold_minor_faults = faults.get(faults.len() / 2).copied();

    let count = if variant.slow {
        counts.slow_warm
    } else {
        counts.warm
    };
    let warm = measure::warm(context, variant, &receivers, &event, count)?;
    f.warm_latency_us = Distribution::of(&warm.latency, 1e-6);
    f.flush_us = Distribution::of(&warm.flush, 1e-6);
    f.peak_rss_kib = warm.peak_rss_kib;
    if variant.name == "home-activities" {
        std::fs::write(
            out_dir.join("home-activities.response.json"),
            &warm.first_response,
        )
        .map_err(|e| e.to_string())?;
    }

    if variant.callgrind && valgrind && counts.callgrind > 0 {
        f.instructions_per_invocation = Some(measure::instructions_per_invocation(
            context,
            variant,
            &receivers,
            &event,
            counts.callgrind,
            &out_dir.join("callgrind"),
        )?);
    }
    f.received = receivers.received();
    // The header on every OTLP request proves the keys reached the sink: from Secrets
    // Manager, a build without the `secrets` feature would ignore the ARN and send without it.
    // Likewise the signature: a build without `sigv4` sends unsigned.
    if let Some((passed, what)) = receivers.otlp_checked()
        && (passed == 0 || passed != f.received.0)
    {
        return Err(format!(
            "{passed} of {} OTLP requests carried {what}",
            f.received.0
        ));
    }
    Ok(())
}

/// `event` (an API Gateway REST event) with `?name=value` as its only query parameter, in
/// both of the forms API Gateway gives it (payload 1.0).
fn with_query(event: &[u8], (name, value): (&str, &str)) -> Result<Vec<u8>, String> {
    let mut event: serde_json::Value = serde_json::from_slice(event).map_err(|e| e.to_string())?;
    let fields = event
        .as_object_mut()
        .ok_or("the event is not a JSON object")?;
    fields.insert(
        "queryStringParameters".into(),
        serde_json::json!({ name: value }),
    );
    fields.insert(
        "multiValueQueryStringParameters".into(),
        serde_json::json!({ name: [value] }),
    );
    serde_json::to_vec(&event).map_err(|e| e.to_string())
}

/// moto's server (the tests' helper, from `.venv`) on a free loopback port, holding the
/// Rollbar token and the OTLP headers as Secrets Manager secrets; or why not.
fn start_secrets_moto() -> Result<(tests::moto::Moto, Secrets), String> {
    // The helper panics with its reason (moto_server missing, not listening).
    std::panic::catch_unwind(|| {
        let moto = tests::moto::Moto::start(&[]);
        let secrets = Secrets {
            endpoint: moto.endpoint(),
            rollbar_token_arn: moto.create_secret("bench/rollbar-token", measure::ROLLBAR_TOKEN),
            otlp_headers_arn: moto.create_secret("bench/otlp-headers", measure::OTLP_HEADERS),
        };
        (moto, secrets)
    })
    .map_err(|panic| {
        let why = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_default();
        format!("moto for Secrets Manager did not start: {why}")
    })
}

/// The benchmark's Python venv under target/bench, installed from the pinned requirements
/// when they changed; its interpreter, or why there is none.
fn python_venv(root: &Path, out_dir: &Path) -> Result<PathBuf, String> {
    let requirements = root.join("tests/bench/python/requirements.txt");
    let venv = out_dir.join("venv");
    let python = venv.join("bin/python");
    let stamp = venv.join(".requirements.txt");
    let wanted = std::fs::read(&requirements).map_err(|e| e.to_string())?;
    if std::fs::read(&stamp).is_ok_and(|installed| installed == wanted) {
        return Ok(python);
    }
    eprintln!(
        "bench: installing the Python stacks into {}",
        venv.display()
    );
    let run = |command: &mut Command| {
        command
            .status()
            .map_err(|e| e.to_string())
            .and_then(|s| s.success().then_some(()).ok_or(format!("{command:?}: {s}")))
    };
    run(Command::new("python3.11").arg("-m").arg("venv").arg(&venv))?;
    run(Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-r",
        ])
        .arg(&requirements))?;
    std::fs::write(&stamp, wanted).map_err(|e| e.to_string())?;
    Ok(python)
}

/// moto's server on a free loopback port, for watchtower's CloudWatch Logs calls.
fn start_moto(python: &Path) -> Result<(Child, String), String> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| e.to_string())?
        .port();
    let moto_server = python.with_file_name("moto_server");
    let mut child = Command::new(moto_server)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| e.to_string())?;
    let deadline = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            let _ = child.kill();
            return Err("moto_server did not listen".into());
        }
        thread::sleep(Duration::from_millis(100));
    }
    Ok((child, format!("http://127.0.0.1:{port}")))
}

/// Binary and zip sizes per native build: arm64 from `cargo lambda build` (as deployed) in
/// full mode, the native binaries in quick mode.
fn sizes(
    root: &Path,
    bin_dir: &Path,
    all: &[Variant],
    quick: bool,
    out_dir: &Path,
) -> Vec<(Build, (u64, u64, String))> {
    let mut builds: Vec<Build> = all.iter().filter_map(|v| v.binary).collect();
    builds.sort_by_key(|b| b.name());
    builds.dedup();
    let lambda_dir = root.join("target/lambda");
    if !quick {
        eprintln!("bench: cargo lambda build --release --arm64");
        let bench_bins: Vec<String> = builds
            .iter()
            .filter_map(|b| match b {
                Build::Bench(name) => Some(format!("--bin={name}")),
                Build::Root(_) => None,
            })
            .collect();
        for (dir, bins) in [
            (root.to_path_buf(), Vec::new()),
            (root.join("tests/bench"), bench_bins),
        ] {
            let status = Command::new("cargo")
                .args(["lambda", "build", "--release", "--arm64"])
                .args(bins)
                .current_dir(dir)
                .status();
            if !status.is_ok_and(|s| s.success()) {
                eprintln!("bench: cargo lambda build failed; arm64 sizes are missing");
            }
        }
    }
    let zips = out_dir.join("zips");
    let _ = std::fs::create_dir_all(&zips);
    builds
        .into_iter()
        .filter_map(|build| {
            let (binary, arch) = if quick {
                (bin_dir.join(build.name()), "x86_64")
            } else {
                (lambda_dir.join(build.name()).join("bootstrap"), "arm64")
            };
            let bytes = std::fs::metadata(&binary).ok()?.len();
            let zip = zips.join(format!("{}.zip", build.name()));
            let _ = std::fs::remove_file(&zip);
            // Lambda runs the file called `bootstrap` at the root of the zip.
            let staged = zips.join(build.name());
            std::fs::create_dir_all(&staged).ok()?;
            std::fs::copy(&binary, staged.join("bootstrap")).ok()?;
            let zipped = Command::new("zip")
                .args(["-9", "-q", "-j", "-X"])
                .arg(&zip)
                .arg(staged.join("bootstrap"))
                .status()
                .is_ok_and(|s| s.success())
                || Command::new("python3")
                    .args(["-c", "import sys, zipfile; zipfile.ZipFile(sys.argv[1], 'w', zipfile.ZIP_DEFLATED, compresslevel=9).write(sys.argv[2], 'bootstrap')"])
                    .arg(&zip)
                    .arg(staged.join("bootstrap"))
                    .status()
                    .is_ok_and(|s| s.success());
            let zip_bytes = zipped.then(|| std::fs::metadata(&zip).ok()).flatten()?.len();
            Some((build, (bytes, zip_bytes, arch.to_owned())))
        })
        .collect()
}

/// Whether home-activities answers the purpose-built Runtime API the same as it answers
/// `cargo lambda watch` (`cargo lambda invoke`), timestamps and trace ids aside.
fn compare_with_cargo_lambda_watch(figures: &[Figures]) -> String {
    let ours = tests::workspace_root().join("target/bench/home-activities.response.json");
    let Ok(ours) = std::fs::read(&ours) else {
        return "not checked (home-activities was not measured)".into();
    };
    if !figures
        .iter()
        .any(|f| f.name == "home-activities" && f.error.is_none())
    {
        return "not checked (home-activities failed)".into();
    }
    eprintln!("bench: the same event through cargo lambda watch");
    let emulator = std::panic::catch_unwind(|| {
        let api = tests::LocalApi::start(&[]);
        api.invoke("home-activities", "home")
    });
    let Ok(theirs) = emulator else {
        return "not checked (cargo lambda watch did not answer)".into();
    };
    let Ok(ours) = serde_json::from_slice::<serde_json::Value>(&ours) else {
        return "NO: our response is not JSON".into();
    };
    let (ours, theirs) = (normalized(&ours), normalized(&theirs));
    if ours == theirs {
        "identical (status, header names, body; timestamps and trace ids masked)".into()
    } else {
        format!("DIFFERENT: ours {ours} vs cargo lambda watch {theirs}")
    }
}

/// Status, header names, and the body with every timestamp masked.
fn normalized(response: &serde_json::Value) -> serde_json::Value {
    fn mask(value: &mut serde_json::Value) {
        match value {
            serde_json::Value::String(s) if chrono::DateTime::parse_from_rfc3339(s).is_ok() => {
                *s = "<time>".into()
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(mask),
            serde_json::Value::Object(map) => map.values_mut().for_each(mask),
            _ => {}
        }
    }
    let names = |key: &str| {
        let mut names: Vec<String> = response[key]
            .as_object()
            .map(|h| h.keys().map(|k| k.to_ascii_lowercase()).collect())
            .unwrap_or_default();
        names.sort();
        names
    };
    let mut body: serde_json::Value = response["body"]
        .as_str()
        .and_then(|b| serde_json::from_str(b).ok())
        .unwrap_or(serde_json::Value::Null);
    mask(&mut body);
    serde_json::json!({
        "statusCode": response["statusCode"],
        "headers": names("headers"),
        "multiValueHeaders": names("multiValueHeaders"),
        "body": body,
    })
}

/// `nproc` and the CPU model, for the README.
fn machine() -> String {
    let cpus = thread::available_parallelism().map_or(0, |n| n.get());
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|m| m.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_default();
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .map(|v| v.trim().to_owned())
        })
        .unwrap_or_default();
    format!(
        "{cpus} cores, {model}, {memory} RAM, {}",
        std::env::consts::ARCH
    )
}
