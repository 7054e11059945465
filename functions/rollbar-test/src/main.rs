mod handler;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    cruddur::serve("/rollbar/test", handler::handle).await
}
