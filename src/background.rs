//! Background CPU work off the request path: runs a job on its own thread at the lowest CPU
//! priority and waits for it. Used by the group metrics job and by directory reloads.

/// Runs `work` on its own thread at the lowest CPU priority (SCHED_IDLE on Linux) and waits for
/// it: background jobs then take what the request workers leave. On a 2-core machine the
/// metrics job at normal priority doubled request p99 while it ran (BENCHMARKS.md).
/// `None` when the thread could not start or panicked.
pub async fn run<T: Send + 'static>(
    name: &str,
    work: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    let name = name.to_owned();
    // A blocking-pool task that only waits for the low-priority thread: the pool thread keeps
    // its priority for whatever it runs next, and tokio sees blocking work in progress (so a
    // paused test clock does not jump ahead while the job runs).
    tokio::task::spawn_blocking(move || {
        std::thread::Builder::new()
            .name(name)
            .spawn(move || {
                lower_this_threads_priority();
                work()
            })
            .ok()?
            .join()
            .ok()
    })
    .await
    .ok()
    .flatten()
}

#[cfg(target_os = "linux")]
fn lower_this_threads_priority() {
    // On Linux the policy and the nice value belong to the calling thread, not the whole
    // process. SCHED_IDLE: a waking request worker preempts this thread at once (with nice 19
    // alone it could wait out a time slice, which still showed in p99); it still gets a small
    // share of a busy CPU, so the job finishes.
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: both calls only read `param` and have no other memory-safety preconditions; a
    // failure only leaves the priority as it was.
    unsafe {
        if libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) != 0 {
            libc::setpriority(libc::PRIO_PROCESS, 0, 19);
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn lower_this_threads_priority() {}
