//! Process memory: keep Sluice's long-running processes small and flat.

/// Limit glibc's malloc to two arenas. By default it creates one per thread that ever
/// contends (up to 8 per core), and memory freed in an arena is rarely returned: a burst
/// of work on several tokio threads leaves the process tens of megabytes larger for
/// good. Two arenas keep contention low on the few threads Sluice runs. Call it early
/// in `main`: arenas that threads already created stay, new ones are capped. Elsewhere
/// than glibc it does nothing.
pub fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only adjusts allocator parameters, under glibc's own lock, so it
    // may run while other threads allocate.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}
