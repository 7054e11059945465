mod handler;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    cruddur::serve(handler::handle).await
}
