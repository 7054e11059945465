//! The API's answer to a path none of its routes has, under `cargo lambda watch`:
//! `make serve` routes every such path here (Cargo.toml,
//! `[workspace.metadata.lambda.watch.router]`). Deployed, API Gateway answers them itself
//! with the same response (template.yaml, `MISSING_AUTHENTICATION_TOKEN`), so this binary is
//! never deployed.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    cruddur::serve_not_found().await
}
