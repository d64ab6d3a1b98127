use clap::Parser;

/// mimalloc instead of glibc's malloc: under load glibc spent about a quarter of the server's time
/// in malloc and free (profiled on UserInfo), and it kept the 19 MiB Argon2 buffers of past logins
/// resident; mimalloc is faster with many small short-lived allocations and returns large blocks.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let cli = tessera::cli::Cli::parse();
    // The HTTP workers run their own runtimes; this one only drives start-up and background
    // tasks.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(tessera::cli::run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
