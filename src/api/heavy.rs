//! Heavy calls (more than [`HEAVY`](crate::api::admit::HEAVY) recipients) are evaluated on a
//! runtime of their own whose threads run at a lower CPU priority than the request workers:
//! on a busy machine the small drafts everybody types are answered first, and large drafts
//! take what is left. On an idle machine a large draft still has every core.

use std::future::Future;
use std::sync::OnceLock;

use tokio::runtime::Runtime;
use tracing::Instrument;

/// How much nicer than the request workers the heavy runtime's threads are: at 10 a thread
/// weighs about a tenth of a request worker when both want a core (nice 19, a seventieth,
/// measured the same for the small drafts and starves large ones more).
const NICER: libc::c_int = 10;

fn runtime() -> Option<&'static Runtime> {
    static RUNTIME: OnceLock<Option<Runtime>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            let cores = std::thread::available_parallelism().map_or(1, usize::from);
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(cores)
                .thread_name("mailtips-heavy")
                .on_thread_start(lower_this_threads_priority)
                .enable_all()
                .build()
                .ok()
        })
        .as_ref()
}

/// Runs `work` on the heavy runtime and waits for it; the work is cancelled when this future
/// is dropped (the caller's deadline passed). Runs it here when the runtime could not start.
/// `None` when the work panicked.
pub(crate) async fn run<T: Send + 'static>(
    work: impl Future<Output = T> + Send + 'static,
) -> Option<T> {
    let Some(rt) = runtime() else {
        return Some(work.await);
    };
    // In the caller's span, so that what the evaluation logs is told apart as before.
    let mut task = Abort(rt.spawn(work.instrument(tracing::Span::current())));
    (&mut task.0).await.ok()
}

struct Abort<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for Abort<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The nice value for a heavy thread created by a thread whose nice value is `now`.
fn nicer(now: libc::c_int) -> libc::c_int {
    (now + NICER).min(19)
}

fn lower_this_threads_priority() {
    // On Linux the nice value belongs to the calling thread (a new thread inherits its
    // creator's). SAFETY: neither call has memory-safety preconditions; on failure the thread
    // keeps the priority it had.
    unsafe {
        let now = libc::getpriority(libc::PRIO_PROCESS, 0);
        libc::setpriority(libc::PRIO_PROCESS, 0, nicer(now));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn this_threads_nice() -> libc::c_int {
        // SAFETY: getpriority has no memory-safety preconditions.
        unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) }
    }

    #[tokio::test]
    async fn runs_on_a_heavy_thread_at_the_lower_priority() {
        let here = this_threads_nice();
        let (name, nice) = run(async {
            let name = std::thread::current().name().map(str::to_owned);
            (name, this_threads_nice())
        })
        .await
        .expect("the work ran");
        assert_eq!(name.as_deref(), Some("mailtips-heavy"));
        // Every test thread has the process's nice value, and so had the one that started the
        // heavy runtime.
        assert_eq!(nice, nicer(here));
        assert!(nice > here || here == 19);
    }

    #[tokio::test]
    async fn dropping_the_wait_cancels_the_work() {
        let (held, dropped) = tokio::sync::oneshot::channel::<()>();
        let (started, has_started) = tokio::sync::oneshot::channel();
        let waiting = tokio::spawn(run(async move {
            let _held = held;
            let _ = started.send(());
            std::future::pending::<()>().await
        }));
        has_started.await.expect("the work started");
        waiting.abort();
        // The work's future, and the sender it holds, are dropped when the task is cancelled.
        assert!(dropped.await.is_err());
    }

    #[tokio::test]
    async fn a_panic_in_the_work_is_none() {
        let answer = run(async {
            if std::hint::black_box(true) {
                panic!("in the work");
            }
        })
        .await;
        assert!(answer.is_none());
    }
}
