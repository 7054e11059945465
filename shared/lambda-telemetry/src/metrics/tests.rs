//! Metrics through the invocation layer: what each invocation records stays its own, also
//! when invocations overlap in one process (Lambda Managed Instances).

use std::sync::{Arc, OnceLock};

use lambda_http::RequestExt as _;
use tower::{Layer as _, ServiceExt as _};

use super::{MetricStore, Metrics, StoreRecorder, Value};
use crate::constants::metric_keys;
use crate::invocation::InvocationLayer;

/// The facade's global recorder, once per test process: handles record into the invocation
/// they are used in, else into this store, the process's.
fn recorder_installed() -> Arc<MetricStore> {
    static STORE: OnceLock<Arc<MetricStore>> = OnceLock::new();
    Arc::clone(STORE.get_or_init(|| {
        let store = Arc::new(MetricStore::default());
        let _ = ::metrics::set_global_recorder(StoreRecorder::new(Arc::clone(&store)));
        store
    }))
}

fn metrics() -> Arc<Metrics> {
    Arc::new(Metrics::for_test())
}

/// The value of the series `name` in `group`, if it has one.
fn value_of(group: &super::Recorded, name: &str) -> Option<Value> {
    group
        .series
        .iter()
        .find(|s| s.key.name() == name)
        .map(|s| s.value.clone())
}

/// "Metrics of one invocation never carry another's dimensions or properties": eight
/// invocations at once, each adding its own tenant dimension, order metadata and label, and
/// recording across `.await` points while the others do the same, on both tokio flavours.
/// Each group holds exactly its own invocation's values, under its own request id; the
/// built-in metrics count every invocation once.
#[test]
fn overlapping_invocations_each_publish_only_their_own_metrics() {
    let _ = recorder_installed();
    const N: usize = 8;
    let runtimes = crate::logs::testing::runtimes_of_both_flavours(4);
    for runtime in runtimes {
        let metrics = metrics();
        let layer = InvocationLayer::default().with_metrics(Arc::clone(&metrics));
        let gate = Arc::new(tokio::sync::Barrier::new(N));
        let handler = tower::service_fn(move |request: lambda_http::Request| {
            let gate = Arc::clone(&gate);
            async move {
                let id = request.lambda_context().request_id;
                let n: u64 = id.trim_start_matches("req-").parse().unwrap();
                super::add_dimension("tenant", format!("tenant-{n}"));
                gate.wait().await;
                super::add_metadata("order_id", format!("order-{n}"));
                for _ in 0..=n {
                    ::metrics::counter!("app.orders", "shard" => format!("s{n}")).increment(1);
                    tokio::task::yield_now().await;
                }
                gate.wait().await;
                ::metrics::histogram!("app.size").record(n as f64);
                Ok::<_, crate::Error>("ok")
            }
        });
        runtime.block_on(async {
            let calls = (0..N).map(|n| {
                let mut context = lambda_http::Context::default();
                context.request_id = format!("req-{n}");
                let request = crate::invocation::tests::event().with_lambda_context(context);
                let service = layer.layer(handler.clone());
                tokio::spawn(service.oneshot(request))
            });
            for answer in futures_util::future::join_all(calls).await {
                assert_eq!(answer.unwrap().unwrap().status(), 200);
            }
        });
        let batch = metrics.store.take();
        let mut own = 0;
        let mut invocations = 0;
        for group in &batch.groups {
            let request = group
                .ids
                .as_ref()
                .and_then(|i| i.request_id.clone())
                .unwrap();
            let n: u64 = request.trim_start_matches("req-").parse().unwrap();
            if let Some(orders) = group.series.iter().find(|s| s.key.name() == "app.orders") {
                own += 1;
                assert_eq!(orders.value, Value::Counter(n + 1), "{group:?}");
                let shard: Vec<_> = orders.key.labels().map(|l| l.value().to_owned()).collect();
                assert_eq!(shard, [format!("s{n}")]);
                assert_eq!(
                    group.dimensions,
                    [("tenant".to_owned(), format!("tenant-{n}"))]
                );
                assert_eq!(group.metadata["order_id"], format!("order-{n}"));
                let size = group
                    .series
                    .iter()
                    .find(|s| s.key.name() == "app.size")
                    .unwrap();
                assert_eq!(size.value, Value::Histogram(vec![n as f64]));
                assert_eq!(group.series.len(), 2, "{group:?}");
            }
            if let Some(count) = group
                .series
                .iter()
                .find(|s| s.key.name() == metric_keys::INVOCATIONS)
            {
                invocations += 1;
                assert_eq!(count.value, Value::Counter(1));
                assert!(
                    group
                        .dimensions
                        .iter()
                        .any(|(k, v)| k == metric_keys::FAAS_NAME && v == "cruddur-home")
                );
            }
        }
        assert_eq!((own, invocations), (N, N), "{:#?}", batch.groups);
        assert_eq!(batch.dropped, 0);
    }
}

/// A value recorded outside any invocation (start-up, a spawned task) is the process's,
/// published at the next flush without a request id, and taken once: a second flush has
/// nothing of it.
#[test]
fn values_outside_invocations_are_published_once_without_ids() {
    let store = Arc::new(MetricStore::default());
    let recorder = StoreRecorder::new(Arc::clone(&store));
    ::metrics::with_local_recorder(&recorder, || {
        ::metrics::counter!("app.started").increment(1);
        ::metrics::gauge!("app.pool").set(4.0);
    });
    let batch = store.take();
    assert_eq!(batch.groups.len(), 1);
    assert!(batch.groups[0].ids.is_none());
    assert_eq!(batch.groups[0].series.len(), 2);
    assert!(store.take().groups.is_empty(), "taken once");
}

/// `LAMBDA_TELEMETRY_METRICS_REQUIRED`: an invocation with no metric of its own is an ERROR
/// line (Powertools raises; a request is never failed for telemetry), and the built-ins do
/// not count as its own.
#[test]
fn a_required_metric_missing_is_an_error_line_not_a_failed_request() {
    let _ = recorder_installed();
    let metrics = Arc::new(Metrics {
        required: true,
        ..Metrics::for_test()
    });
    let layer = InvocationLayer::default().with_metrics(Arc::clone(&metrics));
    let handler =
        tower::service_fn(|_: lambda_http::Request| async { Ok::<_, crate::Error>("ok") });
    let (response, lines) = crate::invocation::tests::serve_request(
        layer.layer(handler),
        crate::invocation::tests::event(),
    );
    assert_eq!(response.status(), 200);
    let errors: Vec<_> = lines.iter().filter(|l| l["level"] == "ERROR").collect();
    assert_eq!(errors.len(), 1, "{lines:#?}");
    assert!(
        errors[0]["message"]
            .as_str()
            .unwrap()
            .contains("no metric of its own")
    );
}

/// A gauge is the process's: an increment or decrement in an invocation applies to the value
/// set at start-up, not to 0. A counter's `absolute` counts the rise of an external total once:
/// the same total twice adds nothing.
#[test]
fn gauges_and_absolute_counters_follow_the_process_value() {
    let store = Arc::new(MetricStore::default());
    let recorder = StoreRecorder::new(Arc::clone(&store));
    ::metrics::with_local_recorder(&recorder, || {
        ::metrics::gauge!("app.pool.idle").set(10.0);
        ::metrics::gauge!("app.pool.idle").decrement(1.0);
        ::metrics::counter!("db.opened").absolute(5);
        ::metrics::counter!("db.opened").absolute(5);
        ::metrics::counter!("db.opened").absolute(3);
    });
    let group = store.take().groups.remove(0);
    assert_eq!(value_of(&group, "app.pool.idle"), Some(Value::Gauge(9.0)));
    assert_eq!(value_of(&group, "db.opened"), Some(Value::Counter(5)));
    ::metrics::with_local_recorder(&recorder, || {
        ::metrics::gauge!("app.pool.idle").increment(2.0);
        ::metrics::counter!("db.opened").absolute(7);
    });
    let group = store.take().groups.remove(0);
    assert_eq!(value_of(&group, "app.pool.idle"), Some(Value::Gauge(11.0)));
    assert_eq!(value_of(&group, "db.opened"), Some(Value::Counter(2)));
}

/// A layer that closes no invocation's metrics (made by `Default`, with no metrics installed)
/// must not swallow them: what its handler records is the process's, published at the next
/// flush, never kept in an invocation nothing closes.
#[test]
fn an_invocation_nothing_closes_leaves_its_values_to_the_process() {
    let process = recorder_installed();
    let handler = tower::service_fn(|_: lambda_http::Request| async {
        ::metrics::counter!("app.unclosed").increment(3);
        Ok::<_, crate::Error>("ok")
    });
    let layer = InvocationLayer::default();
    let (response, _) = crate::invocation::tests::serve_request(
        layer.layer(handler),
        crate::invocation::tests::event(),
    );
    assert_eq!(response.status(), 200);
    let counted: u64 = process
        .take()
        .groups
        .iter()
        .flat_map(|g| &g.series)
        .filter(|s| s.key.name() == "app.unclosed")
        .map(|s| match s.value {
            Value::Counter(n) => n,
            _ => 0,
        })
        .sum();
    assert_eq!(counted, 3);
}

/// A task the handler started with `crate::spawn` records into its invocation while the
/// invocation runs; once the invocation has answered (its group closed and handed to the
/// flush), what the task records is the process's, published at the next flush, never kept
/// in a group nothing will publish.
#[test]
fn a_spawned_task_records_into_its_invocation_until_it_answers_then_the_process() {
    let process = recorder_installed();
    let metrics = metrics();
    let layer = InvocationLayer::default().with_metrics(Arc::clone(&metrics));
    let (release, released) = tokio::sync::oneshot::channel::<()>();
    let released = Arc::new(std::sync::Mutex::new(Some(released)));
    let late = Arc::new(std::sync::Mutex::new(None));
    let handler = {
        let late = Arc::clone(&late);
        tower::service_fn(move |_: lambda_http::Request| {
            let released = released.lock().unwrap().take().unwrap();
            let late = Arc::clone(&late);
            async move {
                crate::spawn(async { ::metrics::counter!("app.spawned.early").increment(1) })
                    .await
                    .unwrap();
                *late.lock().unwrap() = Some(crate::spawn(async move {
                    let _ = released.await;
                    ::metrics::counter!("app.spawned.late").increment(1);
                }));
                Ok::<_, crate::Error>("ok")
            }
        })
    };
    let runtime = crate::logs::testing::current_thread_runtime();
    runtime.block_on(async {
        let answer = layer
            .layer(handler)
            .oneshot(crate::invocation::tests::event())
            .await
            .unwrap();
        assert_eq!(answer.status(), 200);
        release.send(()).unwrap();
        let task = late.lock().unwrap().take().unwrap();
        task.await.unwrap();
    });
    let invocation = metrics.store.take();
    let names = |groups: &[super::Recorded]| -> Vec<String> {
        groups
            .iter()
            .flat_map(|g| &g.series)
            .map(|s| s.key.name().to_owned())
            .filter(|n| n.starts_with("app.spawned"))
            .collect()
    };
    assert_eq!(names(&invocation.groups), ["app.spawned.early"]);
    assert!(names(&process.take().groups).contains(&"app.spawned.late".to_owned()));
}
