use clap::Parser;

/// glibc raises its mmap threshold after a large block is freed, so after the first login the
/// 19 MiB Argon2 working buffers are carved out of the heap arenas and stay resident. A fixed
/// 4 MiB threshold keeps large buffers mapped, and given back when freed: the server's memory
/// stays flat (measured: about 47 MiB after the benchmark instead of 78). Also measured, and not
/// taken: capping the arenas (slower, no smaller) and mimalloc (no faster once UserInfo's SQL was
/// prepared, and 72 MiB after the benchmark even with immediate purging); see bench/README.md.
fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; it runs before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 4 * 1024 * 1024);
    }
}

fn main() -> std::process::ExitCode {
    tune_allocator();
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
