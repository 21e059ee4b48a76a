fn main() {
    cap_malloc_arenas();
    std::process::exit(vzrun::app::main(std::env::args_os()));
}

/// glibc gives each thread that allocates an arena of its own (up to 8 per core), and memory
/// freed in one is not reused by the others: the threads of `parallel` left megabytes each
/// behind (an evacuation of 4000 VEs with --parallel 8 held 2.5 MB more than with one
/// arena, no faster). Two arenas, unless the operator set `MALLOC_ARENA_MAX`. The binary
/// only: a program that embeds the library keeps its own allocator settings.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn cap_malloc_arenas() {
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: mallopt only sets a tunable; called before any other thread exists.
        unsafe { libc::mallopt(libc::M_ARENA_MAX, 2) };
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn cap_malloc_arenas() {}
