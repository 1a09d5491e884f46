//! One way to spread per-process or per-namespace work over the cores: workers take the next
//! item from a shared counter, so one slow item (a process with 20,000 fds) never holds back a
//! fixed share of the others.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;

/// Threads at most, whatever the machine has.
const MAX_WORKERS: usize = 8;

/// Workers for `items` items, giving each at least `per_worker` of them: one per core, at most
/// [`MAX_WORKERS`], at least one.
pub fn workers(items: usize, per_worker: usize) -> usize {
    thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, MAX_WORKERS)
        .min(items.div_ceil(per_worker.max(1)).max(1))
}

/// Where the work runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Threads {
    /// With a single worker, it runs on the caller's thread (more are always spawned).
    CallerMayWork,
    /// Always on threads made for it: the work changes its thread (setns) for good.
    Own,
}

/// Runs `work(state, index, item)` for every item on `workers` threads, each with its own state
/// from `init`, and returns every worker's final state (a worker that panicked is left out,
/// with whatever its items gave).
pub fn fold<I: Sync, S: Send>(
    items: &[I],
    workers: usize,
    threads: Threads,
    init: impl Fn() -> S + Sync,
    work: impl Fn(&mut S, usize, &I) + Sync,
) -> Vec<S> {
    let next = AtomicUsize::new(0);
    let run = || {
        let mut state = init();
        loop {
            let index = next.fetch_add(1, Ordering::Relaxed);
            let Some(item) = items.get(index) else {
                return state;
            };
            work(&mut state, index, item);
        }
    };
    if items.is_empty() {
        return Vec::new();
    }
    if workers <= 1 && threads == Threads::CallerMayWork {
        return vec![run()];
    }
    thread::scope(|scope| {
        let handles: Vec<_> = (0..workers.max(1)).map(|_| scope.spawn(run)).collect();
        handles
            .into_iter()
            .filter_map(|handle| handle.join().ok())
            .collect()
    })
}

/// `work` of every item, in the items' order; None for an item whose worker panicked.
pub fn map<I: Sync, T: Send>(
    items: &[I],
    workers: usize,
    threads: Threads,
    work: impl Fn(&I) -> T + Sync,
) -> Vec<Option<T>> {
    in_order(
        items.len(),
        fold(items, workers, threads, Vec::new, |done, index, item| {
            done.push((index, work(item)));
        }),
    )
}

/// Results each tagged with its item's index, put back in order.
pub fn in_order<T>(len: usize, parts: Vec<Vec<(usize, T)>>) -> Vec<Option<T>> {
    let mut results: Vec<Option<T>> = (0..len).map(|_| None).collect();
    for (index, result) in parts.into_iter().flatten() {
        if let Some(slot) = results.get_mut(index) {
            *slot = Some(result);
        }
    }
    results
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_item_once_and_in_order() {
        let items: Vec<u32> = (1..=500).rev().collect();
        for threads in [Threads::CallerMayWork, Threads::Own] {
            for workers in [1, 2, 7] {
                let got = map(&items, workers, threads, |&n| n * 2);
                let want: Vec<Option<u32>> = items.iter().map(|&n| Some(n * 2)).collect();
                assert_eq!(got, want, "{workers} workers, {threads:?}");
            }
        }
        assert!(map(&[] as &[u32], 4, Threads::Own, |&n| n).is_empty());
    }

    #[test]
    fn own_threads_are_not_the_callers() {
        let me = thread::current().id();
        let on = map(&[1], 1, Threads::Own, |_| thread::current().id());
        assert_ne!(on, vec![Some(me)]);
        let on = map(&[1], 1, Threads::CallerMayWork, |_| thread::current().id());
        assert_eq!(on, vec![Some(me)]);
    }

    #[test]
    fn a_panicking_worker_loses_only_its_items() {
        let items: Vec<u32> = (0..100).collect();
        let got = map(&items, 3, Threads::Own, |&n| {
            assert_ne!(n, 50, "boom");
            n
        });
        assert_eq!(got.len(), 100);
        assert!(got[50].is_none());
        assert!(got.iter().filter(|r| r.is_some()).count() < 100);
        assert!(
            got.iter()
                .enumerate()
                .all(|(i, r)| r.is_none_or(|n| n as usize == i))
        );
    }

    #[test]
    fn workers_are_bounded() {
        assert_eq!(workers(0, 32), 1);
        assert_eq!(workers(10, 32), 1);
        assert!(workers(10_000, 1) <= MAX_WORKERS);
    }
}
