mod handler;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    cruddur::serve("/api/activities/home", handler::handle).await
}
