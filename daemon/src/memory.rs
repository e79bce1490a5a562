//! Giving memory back when the daemon goes idle. glibc keeps the heap it grew for a burst of
//! requests (tokio workers get their own arenas), so an idle daemon would stay at its peak
//! size; trimming when the last client connection closes returns it, event-driven, no timer.

/// Return free heap pages to the system (glibc `malloc_trim`); a no-op elsewhere.
pub fn trim_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: malloc_trim only walks and releases the allocator's own free lists; it has
        // no preconditions and may be called from any thread at any time.
        #[allow(unsafe_code)]
        unsafe {
            libc::malloc_trim(0);
        }
    }
}
