//! `init` installs the global subscriber and the panic hook once; a second call changes nothing.

#[test]
fn init_twice_is_harmless() {
    let first = lambda_telemetry::Config::from_env()
        .with_service_name("first")
        .init();
    let second = lambda_telemetry::Config::from_env()
        .with_service_name("second")
        .init();
    let third = lambda_telemetry::init();
    for telemetry in [&first, &second, &third] {
        assert!(format!("{:?}", telemetry.config()).contains("\"first\""));
    }
    tracing::info!("still logging");
}
